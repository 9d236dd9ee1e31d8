"""A request's status follows its images' reviews (issue 18): the API's ``outcome`` and the
pages say "1 of 2 approved", "Rejected", "Changes requested", "Approved", "Failed" — not a
green "Succeeded" whatever the reviewers decided.

The images are rows with real PNG files written by the factory (no generation: what is
tested is what the reviews do to the status); their reviews are opened and decided by the
real review services, as the worker and the review pages do."""

import io

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image

from generation.jobs.models import Asset
from generation.jobs.outcome import request_outcome
from generation.jobs.reviewing import asset_review_open
from governance.reviews.models import ReviewTask
from governance.reviews.services import task_decide
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (20, 40, 200)).save(out, format="PNG")
    return out.getvalue()


def reviewed_request(tenant, images: int = 2):
    """A finished request of ``tenant``'s creator with ``images`` images, each in review."""
    job = GenerationJobFactory(
        request__project=tenant.project,
        request__created_by=tenant.users["creator"],
        request__status="succeeded",
        request__num_images=images,
        status="succeeded",
    )
    assets = []
    for index in range(images):
        asset = Asset(request=job.request, job=job, index=index, seed=index, width=16,
                      height=16, sha256=f"{index:064d}", check_verdict="pass")  # fmt: skip
        asset.image.save(f"image-{index}.png", ContentFile(_png()), save=False)
        asset.save()
        asset_review_open(asset, {"verdict": "pass", "reasons": []})
        assets.append(asset)
    return job.request, assets


def decide(tenant, asset, decision: str, comment: str = "") -> None:
    task = ReviewTask.objects.get(review__kind="asset", review__object_id=asset.pk, status="open")
    task_decide(task=task, user=tenant.users["reviewer"], decision=decision, comment=comment)


def api_outcome(tenant, request_id: int) -> dict:
    response = tenant.client("creator").get(f"/api/v1/requests/{request_id}/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded" or body["status"] == "failed"  # the old field stays
    return body["outcome"]


def page_badge(client, tenant, request_id: int) -> str:
    client.force_login(tenant.users["creator"])
    page = client.get(f"/requests/{request_id}/").content.decode()
    start = page.index("data-outcome=")
    return page[start : page.index("</span>", start)]


def test_in_review_until_decided_then_one_of_two_approved(client, acme):
    request, (first, second) = reviewed_request(acme)
    assert api_outcome(acme, request.pk) == {"code": "in_review", "label": "In review",
                                             "tone": "wait"}  # fmt: skip
    decide(acme, first, "approve")
    assert api_outcome(acme, request.pk)["label"] == "1 of 2 approved, 1 in review"
    decide(acme, second, "reject", "Off brand colours.")
    outcome = api_outcome(acme, request.pk)
    assert outcome == {"code": "partly_approved", "label": "1 of 2 approved", "tone": "partial"}
    assert '"partly_approved">1 of 2 approved' in page_badge(client, acme, request.pk)


def test_all_approved_is_approved(client, acme):
    request, assets = reviewed_request(acme)
    for asset in assets:
        decide(acme, asset, "approve")
    assert api_outcome(acme, request.pk)["code"] == "approved"
    assert '"approved">Approved' in page_badge(client, acme, request.pk)


def test_rejected_images_make_a_rejected_request(client, acme):
    request, assets = reviewed_request(acme)
    for asset in assets:
        decide(acme, asset, "reject", "Not for us.")
    assert api_outcome(acme, request.pk) == {"code": "rejected", "label": "Rejected",
                                             "tone": "bad"}  # fmt: skip
    badge = page_badge(client, acme, request.pk)
    assert '"rejected">Rejected' in badge and "Succeeded" not in badge


def test_changes_requested_shows_as_such(client, acme):
    request, assets = reviewed_request(acme, images=1)
    decide(acme, assets[0], "changes", "Make the star red.")
    assert api_outcome(acme, request.pk)["label"] == "Changes requested"
    assert '"changes_requested">Changes requested' in page_badge(client, acme, request.pk)


def test_a_failed_job_is_failed(client, acme):
    job = GenerationJobFactory(
        request__project=acme.project,
        request__created_by=acme.users["creator"],
        request__status="failed",
        request__error="The worker ran out of memory.",
        status="failed",
    )
    assert api_outcome(acme, job.request_id) == {"code": "failed", "label": "Failed",
                                                 "tone": "bad"}  # fmt: skip
    assert '"failed">Failed' in page_badge(client, acme, job.request_id)


def test_lists_show_outcomes_in_one_query(client, acme):
    """The project page and dashboard rows say the outcome; the API's list counts every
    request's images and open reviews in its one query, however many requests it lists."""
    _rejected, assets = reviewed_request(acme, images=1)
    decide(acme, assets[0], "reject", "No.")
    _partial, (first, second) = reviewed_request(acme)
    decide(acme, first, "approve")
    decide(acme, second, "changes", "Brighter.")
    client.force_login(acme.users["creator"])
    for url in (f"/projects/{acme.project.slug}/", "/"):
        page = client.get(url).content.decode()
        assert '"rejected">Rejected' in page and '"partly_approved">1 of 2 approved' in page
        assert ">Succeeded<" not in page
    api = acme.client("creator")
    with CaptureQueriesContext(connection) as few:
        api.get("/api/v1/requests/")
    for _ in range(3):
        reviewed_request(acme)
    with CaptureQueriesContext(connection) as more:
        body = api.get("/api/v1/requests/").json()
    assert len(body["results"]) == 5
    assert len(more.captured_queries) == len(few.captured_queries)


def test_a_request_outside_a_list_is_counted_alone(acme):
    request, assets = reviewed_request(acme, images=1)
    decide(acme, assets[0], "approve")
    fresh = type(request).objects.get(pk=request.pk)  # no annotations
    assert request_outcome(fresh).code == "approved"


def test_the_report_counts_outcomes_not_finished_jobs(acme):
    """Three finished jobs: one approved, one rejected, one sent back. The report says
    33.3 % approved, not "100 % succeeded"."""
    from datetime import timedelta

    from django.utils import timezone

    from governance.audit.reports import ReportScope, report_build

    for decision, comment in (("approve", ""), ("reject", "No."), ("changes", "Redder.")):
        _request, assets = reviewed_request(acme, images=1)
        decide(acme, assets[0], decision, comment)
    now = timezone.now()
    scope = ReportScope(
        organization=acme.organization,
        project=acme.project,
        since=now - timedelta(days=1),
        until=now + timedelta(seconds=1),
    )
    requests = next(s for s in report_build(scope).sections if s.key == "requests")
    approved = next(f for f in requests.figures if f.label == "Requests approved")
    assert approved.value == "33.3 %"
    assert "33.3 % sent back for changes, 33.3 % rejected" in approved.note
    assert not any("succeeded" in f.label for f in requests.figures)
    table = next(t for t in requests.tables if t.title == "Requests by outcome")
    assert table.rows == [["Approved", 1], ["Changes requested", 1], ["Rejected", 1]]
