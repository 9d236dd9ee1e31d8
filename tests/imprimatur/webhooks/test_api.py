"""The webhooks API and pages: admins of the organisation only (another organisation's
endpoint or delivery is a 404), the secret shown once, rotation, send again, and the
addresses refused (SSRF)."""

import pytest
from django.test import Client

from governance.audit.models import AuditEvent
from imprimatur.webhooks import sending
from imprimatur.webhooks.models import Delivery, Endpoint
from tests.imprimatur.tenancy.factories import PASSWORD
from tests.imprimatur.webhooks.helpers import deliveries, endpoint_for, request_succeed

API = "/api/v1/webhooks"


@pytest.mark.usefixtures("webhook_settings")
def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(acme, receiver):
    response = acme.client("admin").post(
        f"{API}/endpoints/",
        {"url": receiver.url, "event_types": ["request.succeeded"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["organization"] == acme.organization.slug
    detail = acme.client("admin").get(f"{API}/endpoints/{body['id']}/").json()
    assert "secret" not in detail and detail["event_types"] == ["request.succeeded"]
    assert AuditEvent.objects.filter(action="webhooks.endpoint.create").count() == 1


@pytest.mark.usefixtures("webhook_settings")
def test_rotate_disable_log_and_send_again_through_the_api(acme, receiver):
    endpoint = endpoint_for(acme, receiver)
    client = acme.client("admin")
    rotated = client.post(f"{API}/endpoints/{endpoint.pk}/rotate/").json()
    assert rotated["secret"].startswith("whsec_") and rotated["previous_secret_valid_until"]

    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    receiver.fail_next = 1
    sending.delivery_attempt(delivery.pk)
    log = client.get(f"{API}/endpoints/{endpoint.pk}/deliveries/").json()
    assert [d["id"] for d in log["results"]] == [delivery.pk]
    detail = client.get(f"{API}/deliveries/{delivery.pk}/").json()
    assert detail["attempt_set"][0]["status_code"] == 500
    assert detail["payload"]["type"] == "request.succeeded"

    assert client.post(f"{API}/deliveries/{delivery.pk}/resend/").status_code == 202
    disabled = client.patch(f"{API}/endpoints/{endpoint.pk}/", {"enabled": False}, format="json")
    assert disabled.json()["enabled"] is False
    refused = client.post(f"{API}/deliveries/{delivery.pk}/resend/")
    assert refused.status_code == 400 and "enable it first" in refused.json()["detail"]


@pytest.mark.usefixtures("webhook_settings")
def test_another_organisations_endpoints_and_deliveries_are_404(acme, globex, receiver):
    endpoint = endpoint_for(acme, receiver)
    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    client = globex.client("admin")
    assert client.get(f"{API}/endpoints/").json()["results"] == []
    for method, url in [
        ("get", f"{API}/endpoints/{endpoint.pk}/"),
        ("patch", f"{API}/endpoints/{endpoint.pk}/"),
        ("post", f"{API}/endpoints/{endpoint.pk}/rotate/"),
        ("get", f"{API}/endpoints/{endpoint.pk}/deliveries/"),
        ("get", f"{API}/deliveries/{delivery.pk}/"),
        ("post", f"{API}/deliveries/{delivery.pk}/resend/"),
    ]:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    page = Client()
    page.login(username=globex.users["admin"].username, password=PASSWORD)
    assert page.get(f"/settings/webhooks/{endpoint.pk}/").status_code == 404
    assert page.post(f"/settings/webhooks/deliveries/{delivery.pk}/resend/").status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.enabled and Delivery.objects.get(pk=delivery.pk).attempts == 0


def test_only_admins_manage_webhooks(acme):
    for role in ("creator", "reviewer", "compliance", "auditor"):
        response = acme.client(role).post(
            f"{API}/endpoints/", {"url": "https://example.com/hooks"}, format="json"
        )
        assert response.status_code == 403, role
        assert acme.client(role).get(f"{API}/endpoints/").json()["results"] == []
    assert acme.client("creator").get(f"{API}/nope/").status_code == 404
    page = Client()
    page.login(username=acme.users["creator"].username, password=PASSWORD)
    assert page.get("/settings/webhooks/").status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "ftp://example.com/hooks",
        "http://user:pw@example.com/hooks",
    ],
)
def test_endpoints_on_private_or_odd_addresses_are_refused(acme, url):
    response = acme.client("admin").post(f"{API}/endpoints/", {"url": url}, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["url"]
    assert not Endpoint.objects.exists()


def test_the_address_is_checked_again_when_sending(acme, receiver, settings):
    """Saved while allowed, then the name points somewhere private (DNS rebinding is the
    same to the sender): nothing is sent, and the attempt says why."""
    settings.IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE = True
    settings.IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE = [0.0, 0.0]
    endpoint = endpoint_for(acme, receiver)
    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    settings.IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE = False

    attempt = sending.delivery_attempt(delivery.pk)

    assert not attempt.succeeded and "private, loopback or reserved" in attempt.error
    assert receiver.received == []


@pytest.mark.usefixtures("webhook_settings")
def test_the_pages_add_an_endpoint_and_show_its_deliveries(acme, receiver):
    page = Client()
    page.login(username=acme.users["admin"].username, password=PASSWORD)
    assert "Webhooks" in page.get("/settings/").content.decode()
    response = page.post(
        "/settings/webhooks/",
        {"organization": acme.organization.pk, "url": receiver.url, "description": "CI"},
    )
    assert response.status_code == 200
    endpoint = Endpoint.objects.get()
    assert endpoint.secret in response.content.decode()  # shown once, on this answer
    receiver.secrets.append(endpoint.secret)
    request_succeed(acme)
    sending.delivery_attempt(deliveries(endpoint)[0].pk)
    shown = page.get(f"/settings/webhooks/{endpoint.pk}/").content.decode()
    assert "request.succeeded" in shown and "HTTP 204" in shown and "Send again" in shown
    assert endpoint.secret not in shown
    assert "<script" not in shown.split("</header>")[-1]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"url": "not a url"},
        {"url": "http://[::1"},
        {"url": "https://example.com/h", "event_types": "request.succeeded"},
        {"url": "https://example.com/h", "event_types": ["no.such.event"]},
        {"url": "https://example.com/h", "organization": "globex-org"},
        {"url": "http://" + "a" * 70 + ".example/h"},
    ],
)
def test_bad_input_is_a_400_in_the_error_format(acme, globex, body):
    response = acme.client("admin").post(f"{API}/endpoints/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid" and response.json()["errors"]
