"""Who may do what in reviews: each role of the task's organisation and of another
organisation, for each action on a reviewer-stage task of an image (page and API)."""

import io

import pytest
from PIL import Image

from generation.jobs import reviewing, worker
from governance.reviews.models import ReviewTask
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db

ROLES = ("creator", "reviewer", "compliance", "admin", "auditor")


@pytest.fixture
def task(acme):
    job = GenerationJobFactory(
        request__project=acme.project, request__created_by=acme.users["creator"]
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (215, 35, 35)).save(buffer, format="PNG")
    asset = worker.asset_store(job=job, index=0, seed=1, png=buffer.getvalue())
    reviewing.asset_review_open(asset, {"verdict": "pass", "reasons": [], "brand": None})
    return ReviewTask.objects.get(review__object_id=asset.pk, stage_index=0)


#: (role, same organisation) -> expected status for: task page, decide (API), workflow page,
#: workflow PUT (API).
EXPECTED = {
    ("creator", True): (404, 404, 404, 404),
    ("reviewer", True): (200, 200, 200, 403),
    ("compliance", True): (200, 403, 200, 403),
    ("admin", True): (200, 403, 200, 200),  # an admin decides only with an override reason
    ("auditor", True): (404, 404, 404, 404),
    **{(role, False): (404, 404, 404, 404) for role in ROLES},
}


@pytest.mark.parametrize(("role", "same"), list(EXPECTED))
def test_permission_matrix(client, acme, globex, task, role, same):
    tenant = acme if same else globex
    user = tenant.users[role]
    client.force_login(user)
    api = tenant.client(role)
    page, decide, workflow, workflow_put = EXPECTED[(role, same)]
    # The queue lists the task for the role that decides it, in its organisation only.
    listed = [item["id"] for item in api.get("/api/v1/reviews/tasks/").json()["results"]]
    assert (task.pk in listed) == (same and role == "reviewer")
    assert client.get(f"/reviews/tasks/{task.pk}/").status_code == page
    response = api.post(
        f"/api/v1/reviews/tasks/{task.pk}/decide/", {"decision": "approve"}, format="json"
    )
    assert response.status_code == decide, response.json()
    assert client.get(f"/reviews/projects/{acme.project.slug}/workflow/").status_code == workflow
    put = api.put(
        f"/api/v1/projects/{acme.project.slug}/workflow/",
        {"stages": [{"name": "Brand", "role": "reviewer", "kinds": ["asset"]}]},
        format="json",
    )
    assert put.status_code == workflow_put


def test_the_creator_cannot_approve_their_own_image_even_as_a_reviewer(client, acme, task):
    from imprimatur.tenancy.models import Membership

    Membership.objects.create(
        user=acme.users["creator"], organization=acme.organization, role="reviewer"
    )
    response = acme.client("creator").post(
        f"/api/v1/reviews/tasks/{task.pk}/decide/", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 403
    assert "Nobody reviews their own request." in response.json()["detail"]


def test_bulk_approval_and_the_inbox_through_the_api(acme, task):
    inbox = acme.client("reviewer").get("/api/v1/inbox/?unread=1").json()
    assert inbox["count"] >= 1 and inbox["results"][0]["kind"] == "assigned"
    assert inbox["results"][0]["task"] == task.pk
    marked = acme.client("reviewer").post("/api/v1/inbox/read/", {}, format="json").json()
    assert marked["marked"] == inbox["count"]
    assert acme.client("reviewer").get("/api/v1/inbox/?unread=1").json()["count"] == 0
    response = acme.client("reviewer").post(
        "/api/v1/reviews/bulk-approve/",
        {"tasks": [task.pk, 424242], "comment": "ok"},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["approved"] == [task.pk] and "424242" in body["refused"]
    # The approved task has left the inbox (issue 18).
    inbox = acme.client("reviewer").get("/api/v1/inbox/").json()
    assert task.pk not in [item["task"] for item in inbox["results"]]
