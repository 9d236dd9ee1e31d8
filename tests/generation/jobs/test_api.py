"""Submitting requests through the API: defaults, bad input, audit, and the error format."""

import pytest

from generation.jobs.models import GenerationJob, GenerationRequest
from governance.audit.models import AuditEvent
from governance.policies.matching import MAX_PROMPT_CHARS

pytestmark = pytest.mark.django_db


def submit(tenant, body, role="creator"):
    return tenant.client(role).post(
        f"/api/v1/projects/{tenant.project.slug}/requests/", body, format="json"
    )


def test_submit_creates_request_and_job_with_defaults_and_one_audit_event(acme):
    before = AuditEvent.objects.count()
    response = submit(acme, {"prompt": "  a red star on a navy background "})
    assert response.status_code == 201, response.json()
    body = response.json()
    request = GenerationRequest.objects.get(pk=body["id"])
    assert request.prompt == "a red star on a navy background"
    assert (request.width, request.height, request.steps, request.num_images) == (64, 64, 20, 1)
    assert 0 <= request.seed < 2**32
    assert body["status"] == "queued" and body["progress"]["status"] == "queued"
    assert GenerationJob.objects.filter(request=request, status="queued").count() == 1
    events = AuditEvent.objects.filter(pk__gt=0).order_by("id")[before:]
    assert [event.action for event in events] == ["generation.request.submit"]
    assert events[0].actor_name == "acme-creator"
    assert events[0].organization == acme.organization
    assert "prompt" not in events[0].data  # only its digest: prompts can be confidential


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "prompt", "required"),
        ({"prompt": "   "}, "prompt", "may not be empty"),
        ({"prompt": "x", "width": 65}, "width", "tiny-sd allows 64, 96, 128, 256 pixels"),
        ({"prompt": "x", "height": 4096}, "height", "tiny-sd allows 64, 96, 128, 256 pixels"),
        ({"prompt": "x", "width": "wide"}, "width", "valid integer"),
        ({"prompt": "x", "steps": 0}, "steps", "from 1 to 100"),
        ({"prompt": "x", "steps": 500}, "steps", "from 1 to 100"),
        ({"prompt": "x", "guidance_scale": -1}, "guidance_scale", "from 0 to 30"),
        ({"prompt": "x", "num_images": 9}, "num_images", "from 1 to 4"),
        ({"prompt": "x", "seed": -5}, "seed", "from 0 to"),
        ({"prompt": "x", "model": "sdxl"}, "model", "Unknown model 'sdxl'"),
        ({"prompt": "x", "mode": "video"}, "mode", "Must be one of"),
        ({"prompt": "x", "mode": "image-to-image"}, "init_image", "needs this image"),
        ({"prompt": "x", "strength": 0}, "strength", "above 0"),
        ({"prompt": "x" * (MAX_PROMPT_CHARS + 1)}, "prompt", f"the limit is {MAX_PROMPT_CHARS}"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(acme, body, field, message):
    response = submit(acme, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["status"] == 400 and payload["code"] == "invalid"
    assert field in payload["errors"], payload
    assert message in " ".join(payload["errors"][field])
    assert field in payload["detail"]
    assert not GenerationRequest.objects.exists()
    assert not GenerationJob.objects.exists()


def test_several_bad_fields_are_all_reported(acme):
    response = submit(acme, {"prompt": "", "width": 63, "steps": 0})
    assert set(response.json()["errors"]) == {"prompt", "width", "steps"}


def test_unknown_project_in_body_is_400_naming_project(acme):
    response = acme.client("creator").post(
        "/api/v1/requests/", {"project": "nope", "prompt": "a star"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["project"]


def test_unknown_project_in_path_is_404(acme):
    response = acme.client("creator").post(
        "/api/v1/projects/nope/requests/", {"prompt": "a star"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_flat_endpoint_submits_to_the_named_project(acme):
    response = acme.client("creator").post(
        "/api/v1/requests/", {"project": acme.project.slug, "prompt": "a star", "seed": 7}
    )
    assert response.status_code == 201
    assert response.json()["project"] == acme.project.slug
    assert response.json()["seed"] == 7


def test_request_list_filters_by_status(acme):
    submit(acme, {"prompt": "a star"})
    client = acme.client("creator")
    assert client.get("/api/v1/requests/?status=queued").json()["count"] == 1
    assert client.get("/api/v1/requests/?status=succeeded").json()["count"] == 0
    assert client.get("/api/v1/requests/?status=bogus").status_code == 400


def test_unknown_api_path_answers_in_the_error_format(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404, "code": "not_found", "detail": "Not found.", "errors": {}
    }  # fmt: skip
