"""Error pages in the site's look (400, 403, 404, 500), with DEBUG on as on the embedded
default and off; the API keeps its JSON error format."""

import pytest

pytestmark = pytest.mark.django_db

BRANDED = 'class="card error-page"'


def branded(response, code: int, heading: str) -> str:
    page = response.content.decode()
    assert response.status_code == code
    assert BRANDED in page and f'<h1 id="error-heading">{heading}</h1>' in page
    assert 'class="topbar"' in page and "imprimatur.css" in page
    # Not Django's technical pages.
    assert "URLconf" not in page and "Traceback" not in page and "DEBUG = True" not in page
    return page


@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_url_gets_the_branded_404(client, acme, settings, debug):
    settings.DEBUG = debug
    branded(client.get("/no-such-page/"), 404, "Not found")
    client.force_login(acme.users["creator"])
    page = branded(client.get("/no-such-page/"), 404, "Not found")
    assert "Dashboard" in page  # the navigation of a signed-in user
    # A view's own 404 (an object that does not exist) too.
    branded(client.get("/requests/987654/"), 404, "Not found")


@pytest.mark.parametrize("debug", [True, False])
def test_the_api_keeps_its_json_404(client, acme, settings, debug):
    settings.DEBUG = debug
    for url in ("/api/v1/no-such-thing/", "/api/v1/requests/987654/"):
        client.force_login(acme.users["creator"])
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["status"] == 404 and response.json()["code"] == "not_found"


def test_a_missing_slash_still_redirects_with_debug_on(client, acme, settings):
    settings.DEBUG = True
    client.force_login(acme.users["creator"])
    response = client.get("/settings")
    assert response.status_code == 301 and response["Location"] == "/settings/"


@pytest.mark.parametrize("debug", [True, False])
def test_a_refusal_gets_the_branded_403(client, acme, settings, debug):
    settings.DEBUG = debug
    client.force_login(acme.users["creator"])
    page = branded(client.get(f"/projects/{acme.project.slug}/calibration/"), 403, "Not allowed")
    assert "Only compliance officers and admins see the calibration page." in page


@pytest.mark.urls("tests.imprimatur.web.error_urls")
def test_a_failure_gets_the_branded_500(client, acme, settings):
    settings.DEBUG = False
    client.raise_request_exception = False
    client.force_login(acme.users["creator"])
    page = branded(client.get("/test-boom/"), 500, "Something went wrong")
    assert "A failure on purpose" not in page  # no internals shown
    response = client.get("/api/v1/test-boom/")
    assert response.status_code == 500 and response.json()["code"] == "server_error"


@pytest.mark.urls("tests.imprimatur.web.error_urls")
def test_a_bad_request_gets_the_branded_400(client, settings):
    settings.DEBUG = False
    branded(client.get("/test-suspicious/"), 400, "Bad request")
