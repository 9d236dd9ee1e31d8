"""The HTML side: login, dashboard, project page with its request form, settings and tokens."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from generation.jobs.models import GenerationRequest
from governance.audit.models import AuditEvent
from tests.generation.jobs.factories import GenerationJobFactory
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = pytest.mark.django_db


def form_data(**overrides) -> dict:
    """What the browser posts from the project page's request form."""
    data = {"model": "tiny-sd", "mode": "text-to-image", "width": 64, "height": 64,
            "steps": 20, "guidance_scale": 7, "num_images": 1}  # fmt: skip
    return data | overrides


@pytest.fixture
def creator_client(client, acme):
    client.force_login(acme.users["creator"])
    return client


def test_pages_need_login(client, acme):
    for url in ("/", "/projects/", f"/projects/{acme.project.slug}/", "/settings/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_login_page_logs_in_and_lands_on_the_dashboard(client, acme):
    response = client.post(
        "/accounts/login/", {"username": "acme-creator", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    page = response.content.decode()
    assert "acme Campaign" in page
    assert "Creator" in page  # the roles shown in the header


def test_wrong_password_shows_an_error(client, acme):
    response = client.post("/accounts/login/", {"username": "acme-creator", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_dashboard_lists_own_projects_and_requests_only(creator_client, acme, globex):
    GenerationJobFactory(request__project=acme.project, request__prompt="acme star")
    GenerationJobFactory(request__project=globex.project, request__prompt="globex ring")
    page = creator_client.get("/").content.decode()
    assert "acme Campaign" in page and "acme star" in page
    assert "globex" not in page


def test_project_page_form_submits_a_request(creator_client, acme):
    response = creator_client.post(
        f"/projects/{acme.project.slug}/",
        form_data(prompt="a red star", steps=5, seed=""),
    )
    request = GenerationRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/requests/{request.pk}/"
    assert (request.prompt, request.steps, request.created_by.username) == (
        "a red star",
        5,
        "acme-creator",
    )


def test_project_page_form_shows_errors_next_to_fields(creator_client, acme):
    response = creator_client.post(
        f"/projects/{acme.project.slug}/",
        form_data(prompt="", steps=500),
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert "prompt" in form.errors
    assert not GenerationRequest.objects.exists()


def test_service_limits_show_as_form_errors(creator_client, acme):
    response = creator_client.post(
        f"/projects/{acme.project.slug}/",
        form_data(prompt="a star", steps=500),
    )
    assert response.status_code == 400
    assert response.context["form"].errors["steps"] == ["Must be a whole number from 1 to 100."]
    assert "Must be a whole number from 1 to 100." in response.content.decode()


def test_reviewers_see_the_project_but_no_form(client, acme):
    client.force_login(acme.users["reviewer"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert "Only creators make requests" in page
    assert client.post(f"/projects/{acme.project.slug}/", {"prompt": "x"}).status_code == 403


def test_other_organisations_pages_are_404(client, acme, globex):
    job = GenerationJobFactory(request__project=acme.project)
    client.force_login(globex.users["admin"])
    for url in (
        f"/projects/{acme.project.slug}/",
        f"/requests/{job.request_id}/",
        f"/requests/{job.request_id}/status/",
    ):
        assert client.get(url).status_code == 404, url


def test_request_status_fragment_polls_until_finished(creator_client, acme):
    job = GenerationJobFactory(request__project=acme.project)
    fragment = creator_client.get(f"/requests/{job.request_id}/status/").content.decode()
    assert 'hx-trigger="every 500ms"' in fragment
    assert "Waiting for a worker" in fragment
    GenerationRequest.objects.filter(pk=job.request_id).update(status="failed", error="boom")
    fragment = creator_client.get(f"/requests/{job.request_id}/status/").content.decode()
    assert "hx-trigger" not in fragment
    assert "The request failed: boom" in fragment


def test_settings_page_creates_shows_once_and_revokes_a_token(creator_client, acme):
    creator_client.post("/settings/token/", {"action": "create"})
    token = Token.objects.get(user=acme.users["creator"])
    first_view = creator_client.get("/settings/").content.decode()
    assert token.key in first_view
    assert token.key not in creator_client.get("/settings/").content.decode()

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/v1/projects/").status_code == 200

    creator_client.post("/settings/token/", {"action": "revoke"})
    assert not Token.objects.filter(user=acme.users["creator"]).exists()
    assert api.get("/api/v1/projects/").status_code == 401
    actions = AuditEvent.objects.values_list("action", flat=True)
    assert {"auth.token.create", "auth.token.revoke"} <= set(actions)


def test_token_endpoint_exchanges_credentials_for_the_users_token(acme):
    api = APIClient()
    response = api.post(
        "/api/v1/auth/token/", {"username": "acme-creator", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=acme.users["creator"]).key == key
    again = api.post("/api/v1/auth/token/", {"username": "acme-creator", "password": PASSWORD})
    assert again.json()["token"] == key  # one token per user


def test_token_endpoint_rejects_bad_credentials_in_the_error_format(acme):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "acme-creator", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "Unable to log in" in body["errors"]["non_field_errors"][0]


def test_api_docs_and_schema_are_served(creator_client):
    assert creator_client.get("/api/docs/").status_code == 200
    schema = creator_client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"Imprimatur API" in schema.content


def test_reference_images_are_shown_to_members_only(client, acme, globex):
    import io

    from django.core.files.base import ContentFile
    from PIL import Image

    from imprimatur.tenancy.models import BrandReferenceImage

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "#1F3A93").save(buffer, format="PNG")
    reference = BrandReferenceImage(project=acme.project, caption="navy hero")
    reference.image.save("hero.png", ContentFile(buffer.getvalue()), save=False)
    reference.save()

    client.force_login(acme.users["reviewer"])
    page = client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert f'src="/reference-images/{reference.pk}/"' in page
    assert client.get(f"/reference-images/{reference.pk}/").status_code == 200
    client.force_login(globex.users["admin"])
    assert client.get(f"/reference-images/{reference.pk}/").status_code == 404
