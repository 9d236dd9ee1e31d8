"""Deliveries to a real receiver on loopback that verifies each signature with the
``standardwebhooks`` library: the payload, the retries, the rotation of the secret, the
endpoint disabled after failing too long, and which events reach which organisation."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from governance.audit.models import AuditEvent
from governance.policies.services import policy_create, policy_publish
from imprimatur.webhooks import sending
from imprimatur.webhooks.models import Delivery
from imprimatur.webhooks.services import delivery_resend, endpoint_rotate_secret
from tests.governance.reviews.conftest import open_prompt_review
from tests.imprimatur.webhooks.helpers import deliveries, endpoint_for, request_succeed

pytestmark = pytest.mark.usefixtures("webhook_settings")


def test_request_succeeded_reaches_the_receiver_signed(acme, receiver):
    endpoint = endpoint_for(acme, receiver)
    request = request_succeed(acme)
    [delivery] = deliveries(endpoint)
    assert delivery.event_type == "request.succeeded"

    attempt = sending.delivery_attempt(delivery.pk)

    assert attempt.succeeded and attempt.status_code == 204
    [received] = receiver.received
    assert received.verified_by == [0]  # the library accepted the signature
    assert received.headers["webhook-id"] == delivery.message_id
    body = json.loads(received.body)
    assert body["type"] == "request.succeeded"
    assert body["data"] == {
        "organization": acme.organization.slug,
        "project": acme.project.slug,
        "request": {"id": request.pk, "status": "succeeded"},
    }
    assert "prompt" not in received.body.decode()
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.next_attempt_at is None
    # Delivered: a second message for it (a duplicate, the sweep) sends nothing.
    assert sending.delivery_attempt(delivery.pk) is None
    assert len(receiver.received) == 1


def test_failures_are_retried_by_the_schedule_until_one_succeeds(acme, receiver, settings):
    settings.IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE = [0.0, 0.0, 0.0, 3600.0]
    endpoint = endpoint_for(acme, receiver)
    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    receiver.fail_next = 2

    first = sending.delivery_attempt(delivery.pk)
    second = sending.delivery_attempt(delivery.pk)
    third = sending.delivery_attempt(delivery.pk)

    assert [first.status_code, second.status_code, third.status_code] == [500, 500, 204]
    assert "HTTP 500" in first.error and first.response_snippet == "failing on purpose"
    assert third.succeeded and third.number == 3
    # Every try carried the same message id and a signature the library accepts.
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery.message_id}
    assert all(r.verified_by == [0] for r in receiver.received)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED and delivery.attempts == 3
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None  # the success cleared the failure record


def test_a_retry_waits_for_its_place_in_the_schedule(acme, receiver, settings):
    settings.IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE = [0.0, 300.0]
    endpoint = endpoint_for(acme, receiver)
    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    receiver.fail_next = 1

    assert sending.delivery_attempt(delivery.pk).status_code == 500
    delivery.refresh_from_db()
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 290 < wait <= 300
    assert sending.delivery_attempt(delivery.pk) is None  # not due: nothing sent
    assert len(receiver.received) == 1


def test_a_delivery_fails_after_the_last_retry_and_can_be_sent_again(acme, receiver):
    endpoint = endpoint_for(acme, receiver)
    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    receiver.fail_next = 3
    for _ in range(3):
        assert not sending.delivery_attempt(delivery.pk).succeeded
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED and delivery.next_attempt_at is None
    assert sending.delivery_attempt(delivery.pk) is None

    delivery_resend(delivery=delivery, actor=acme.users["admin"])
    attempt = sending.delivery_attempt(delivery.pk)

    assert attempt.succeeded and attempt.number == 4
    assert receiver.received[-1].headers["webhook-id"] == delivery.message_id
    assert AuditEvent.objects.filter(action="webhooks.delivery.resend").count() == 1


def test_rotation_signs_with_both_secrets_during_the_overlap_then_only_the_new(
    acme, receiver, settings
):
    endpoint = endpoint_for(acme, receiver)
    old_secret = receiver.secrets[0]
    endpoint, new_secret = endpoint_rotate_secret(endpoint=endpoint, actor=acme.users["admin"])
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    receiver.secrets.append(new_secret)

    request_succeed(acme)
    sending.delivery_attempt(deliveries(endpoint)[-1].pk)
    during = receiver.received[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verified_by == [0, 1]  # a receiver with either secret accepts it

    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    endpoint.save(update_fields=["previous_secret_expires_at"])
    request_succeed(acme)
    sending.delivery_attempt(deliveries(endpoint)[-1].pk)
    after = receiver.received[-1]
    assert after.verified_by == [1]  # only the new secret
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(after.body, after.headers)
    event = AuditEvent.objects.get(action="webhooks.endpoint.rotate")
    assert old_secret not in json.dumps(event.data) and new_secret not in json.dumps(event.data)


def test_an_endpoint_failing_too_long_is_disabled_and_its_admins_told(
    acme, receiver, settings, django_capture_on_commit_callbacks
):
    settings.IMPRIMATUR_WEBHOOK_DISABLE_AFTER_SECONDS = 0  # "days" compressed to nothing
    acme.users["admin"].email = "admin@acme.test"
    acme.users["admin"].save()
    endpoint = endpoint_for(acme, receiver)
    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    receiver.fail_next = 10

    sending.delivery_attempt(delivery.pk)
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is not None
    with django_capture_on_commit_callbacks(execute=True):
        sending.delivery_attempt(delivery.pk)

    endpoint.refresh_from_db()
    assert not endpoint.enabled and "failed since" in endpoint.disabled_reason
    assert AuditEvent.objects.filter(action="webhooks.endpoint.disable").count() == 1
    [message] = [m for m in mail.outbox if "Webhook endpoint disabled" in m.subject]
    assert message.to == ["admin@acme.test"] and endpoint.url in message.body
    # Disabled: the pending delivery is not sent, and new events make none.
    sent = len(receiver.received)
    assert sending.delivery_attempt(delivery.pk) is None
    request_succeed(acme)
    assert len(deliveries(endpoint)) == 1 and len(receiver.received) == sent


def test_an_organisations_events_reach_only_its_own_endpoints(acme, globex, receiver):
    acme_endpoint = endpoint_for(acme, receiver)
    globex_endpoint = endpoint_for(globex, receiver)
    request_succeed(acme)
    assert len(deliveries(acme_endpoint)) == 1
    assert deliveries(globex_endpoint) == []


def test_an_endpoint_gets_only_the_event_types_it_asked_for(acme, receiver):
    policies = endpoint_for(acme, receiver, event_types=["policy.published"])
    everything = endpoint_for(acme, receiver)
    request_succeed(acme)
    policy = policy_create(organization=acme.organization, user=acme.users["admin"])
    policy.draft = {"rules": [{"id": "r1", "category": "custom", "action": "warn",
                               "explanation": "x", "terms": ["foo"]}]}  # fmt: skip
    policy.save()
    policy_publish(policy=policy, user=acme.users["admin"])

    assert [d.event_type for d in deliveries(policies)] == ["policy.published"]
    assert [d.event_type for d in deliveries(everything)] == [
        "request.succeeded",
        "policy.published",
    ]
    published = deliveries(policies)[0].payload["data"]
    assert published["policy"] == {"id": policy.pk, "version": 1}


def test_a_review_stage_opening_is_review_task_assigned(acme, receiver):
    endpoint = endpoint_for(acme, receiver, event_types=["review.task.assigned"])
    review = open_prompt_review(acme)
    [delivery] = deliveries(endpoint)
    task = review.tasks.get()
    assert delivery.payload["data"]["task"]["id"] == task.pk
    assert delivery.payload["data"]["review"] == {"id": review.pk, "kind": "prompt"}
    assert sending.delivery_attempt(delivery.pk).succeeded


def test_the_sweep_sends_deliveries_whose_message_was_lost(acme, receiver):
    endpoint = endpoint_for(acme, receiver)
    request_succeed(acme)
    [delivery] = deliveries(endpoint)
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5)
    )
    assert sending.deliveries_due_send() == 1


def test_a_failed_request_and_a_signed_checkpoint_are_delivered(acme, globex, receiver):
    from generation.jobs.models import GenerationRequest
    from generation.jobs.transitions import generation_request_transition
    from governance.audit.proofs import audit_checkpoint
    from tests.generation.jobs.factories import GenerationRequestFactory

    acme_endpoint = endpoint_for(acme, receiver, event_types=["request.failed"])
    globex_endpoint = endpoint_for(globex, receiver, event_types=["audit.checkpoint.signed"])
    request = GenerationRequestFactory(
        project=acme.project,
        created_by=acme.users["creator"],
        model_profile=acme.model,
        status=GenerationRequest.Status.QUEUED,
    )
    generation_request_transition(request=request, to="failed", error="out of memory")
    [failed] = deliveries(acme_endpoint)
    assert failed.payload["data"]["request"] == {"id": request.pk, "status": "failed"}
    assert "out of memory" not in json.dumps(failed.payload)

    checkpoint = audit_checkpoint()
    [signed] = deliveries(globex_endpoint)
    assert signed.payload["data"] == {
        "organization": globex.organization.slug,
        "checkpoint": {
            "id": checkpoint.pk,
            "sequence": checkpoint.sequence,
            "hash": checkpoint.hash,
            "tree_root": checkpoint.tree_root,
            "key_id": checkpoint.key_id,
        },
    }
    assert sending.delivery_attempt(signed.pk).succeeded
    assert receiver.received[-1].verified_by == [1]  # globex's secret, not acme's
