"""Tenancy scoping of every project, request and asset endpoint.

Each endpoint: anonymous → 401, a member of another organisation → 404 (the same answer
as for an object that does not exist), a member of the right organisation → 200.
"""

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from generation.jobs.models import Asset
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme_asset(acme):
    job = GenerationJobFactory(
        request__project=acme.project, request__created_by=acme.users["creator"]
    )
    asset = Asset(
        request=job.request, job=job, index=0, seed=42, width=64, height=64, sha256="0" * 64
    )
    asset.image.save("scoping-test.png", ContentFile(b"\x89PNG\r\n\x1a\n"), save=False)
    asset.save()
    return asset


def endpoints(tenant, asset) -> list[str]:
    slug = tenant.project.slug
    return [
        f"/api/v1/projects/{slug}/",
        f"/api/v1/projects/{slug}/requests/",
        f"/api/v1/requests/{asset.request_id}/",
        f"/api/v1/assets/{asset.pk}/",
        f"/api/v1/assets/{asset.pk}/file/",
    ]


def test_anonymous_gets_401_on_every_endpoint(acme, acme_asset):
    client = APIClient()
    for url in [*endpoints(acme, acme_asset), "/api/v1/projects/", "/api/v1/requests/"]:
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"


def test_member_of_another_organisation_gets_404_on_every_endpoint(acme, globex, acme_asset):
    for role in ("creator", "admin", "auditor"):
        client = globex.client(role)
        for url in endpoints(acme, acme_asset):
            response = client.get(url)
            assert response.status_code == 404, (role, url)
            assert response.json() == {
                "status": 404,
                "code": "not_found",
                "detail": response.json()["detail"],
                "errors": {},
            }


def test_other_organisation_404_is_the_same_as_for_a_missing_object(acme, globex, acme_asset):
    client = globex.client("creator")
    foreign = client.get(f"/api/v1/requests/{acme_asset.request_id}/").json()
    missing = client.get("/api/v1/requests/999999/").json()
    assert foreign == missing


def test_lists_show_only_own_organisation(acme, globex, acme_asset):
    projects = globex.client("creator").get("/api/v1/projects/").json()
    assert [project["slug"] for project in projects["results"]] == ["globex-campaign"]
    assert globex.client("creator").get("/api/v1/requests/").json()["count"] == 0
    assert acme.client("reviewer").get("/api/v1/requests/").json()["count"] == 1


def test_members_of_the_organisation_read_every_endpoint(acme, acme_asset):
    client = acme.client("reviewer")
    for url in endpoints(acme, acme_asset):
        assert client.get(url).status_code == 200, url


def test_posting_into_another_organisations_project_is_404(acme, globex):
    response = globex.client("creator").post(
        f"/api/v1/projects/{acme.project.slug}/requests/", {"prompt": "a star"}, format="json"
    )
    assert response.status_code == 404


def test_flat_endpoint_treats_a_foreign_project_like_an_unknown_one(acme, globex):
    client = globex.client("creator")
    foreign = client.post("/api/v1/requests/", {"project": acme.project.slug, "prompt": "x"})
    missing = client.post("/api/v1/requests/", {"project": "no-such-project", "prompt": "x"})
    assert foreign.status_code == missing.status_code == 400
    assert list(foreign.json()["errors"]) == ["project"]
    assert foreign.json()["errors"]["project"] == ["Unknown project 'acme-campaign'."]


@pytest.mark.parametrize("role", ["reviewer", "compliance", "admin", "auditor"])
def test_only_creators_submit_requests(acme, role):
    response = acme.client(role).post(
        f"/api/v1/projects/{acme.project.slug}/requests/", {"prompt": "a star"}, format="json"
    )
    assert response.status_code == 403
    assert "creators" in response.json()["detail"]
