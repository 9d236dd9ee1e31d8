"""File links for API clients: every file link the API hands out (an approved image's
``published_url``, an asset's ``url``) and the pages' file links (image, exports, audit
exports) work with ``Authorization: Token …`` as with a session, under the same permission
checks; an API client without credentials gets a 401 in the API's error format, not the
login page."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from generation.jobs.models import Asset
from tests.generation.jobs.factories import approved_asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(acme) -> Asset:
    return approved_asset(acme)


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}")
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_published_url_downloads_by_token(acme, approved):
    client = token_client(acme.users["creator"])
    asset = client.get(f"/api/v1/assets/{approved.pk}/").json()
    published = client.get(asset["published_url"])
    assert published.status_code == 200, published.content[:300]
    assert body(published) == approved.published_image.open("rb").read()
    assert client.get(asset["url"]).status_code == 200


@pytest.mark.parametrize(
    "path", ["/assets/{pk}/published.png", "/assets/{pk}/image.png", "/assets/{pk}/export/png/"]
)
def test_file_links_answer_tokens_with_the_same_checks(acme, globex, approved, path):
    path = path.format(pk=approved.pk)
    assert token_client(acme.users["reviewer"]).get(path).status_code == 200
    other = token_client(globex.users["admin"]).get(path)
    assert other.status_code == 404
    assert other.json()["code"] == "not_found"  # the API's format, not the HTML page
    anonymous = APIClient().get(path, HTTP_ACCEPT="application/json")
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "status": 401,
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "errors": {},
    }
    bad = APIClient().get(path, HTTP_AUTHORIZATION="Token not-a-token")
    assert bad.status_code == 401 and bad.json()["code"] == "authentication_failed"


def test_a_browser_without_a_session_still_goes_to_the_login_page(approved):
    response = APIClient().get(
        f"/assets/{approved.pk}/published.png", HTTP_ACCEPT="text/html,application/xhtml+xml"
    )
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_session_still_downloads(client, acme, approved):
    client.force_login(acme.users["creator"])
    response = client.get(f"/assets/{approved.pk}/published.png")
    assert response.status_code == 200


def test_audit_exports_by_token(acme):
    auditor = token_client(acme.users["auditor"])
    page_link = auditor.get("/audit/export.jsonl")
    assert page_link.status_code == 200
    # The first export was itself audited: the second holds its event.
    api = auditor.get("/api/v1/audit/export/", {"format": "jsonl"})
    assert api.status_code == 200 and api["Content-Type"].startswith("application/x-ndjson")
    assert b'"action":"audit.export"' in body(api)
    assert token_client(acme.users["creator"]).get("/audit/export.jsonl").status_code == 403
    refused = auditor.get("/api/v1/audit/export/", {"format": "xml"})
    assert refused.status_code == 400 and "format" in refused.json()["errors"]
    verified = auditor.post("/api/v1/audit/verify/")
    assert verified.status_code == 200 and verified.json()["intact"] is True
    assert token_client(acme.users["creator"]).post("/api/v1/audit/verify/").status_code == 403
