"""``request.succeeded`` from a real worker to the loopback receiver: the worker's
transaction writes the delivery with the event, sends it after commit on the "default"
queue, and retries it (by countdown, through the broker) after the receiver fails once."""

import json

import pytest

from imprimatur.webhooks.models import Delivery
from tests.conftest import submit, wait_for, wait_until_finished
from tests.imprimatur.webhooks.helpers import endpoint_for

pytestmark = pytest.mark.e2e


def test_request_succeeded_reaches_the_receiver_from_a_real_worker(
    acme, receiver, start_worker, settings
):
    settings.IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE = True
    worker = start_worker(
        env={
            "IMPRIMATUR_WEBHOOK_ALLOW_PRIVATE": "1",
            "IMPRIMATUR_WEBHOOK_RETRY_SCHEDULE": "0,1,1",
        }
    )
    endpoint = endpoint_for(acme, receiver, event_types=["request.succeeded"])
    receiver.fail_next = 1
    request_id = submit(acme, {"prompt": "a red star", "width": 64, "height": 64, "steps": 2})
    request = wait_until_finished(request_id)
    assert request.status == "succeeded", (request.error, worker.output())

    def delivered():
        return Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.SUCCEEDED).first()

    delivery = wait_for(delivered, timeout=60, what="the webhook delivery")
    assert delivery.attempts == 2
    assert [r.answered for r in receiver.received] == [500, 204]
    verified = receiver.received[-1]
    assert verified.verified_by == [0]
    assert json.loads(verified.body)["data"]["request"] == {"id": request_id, "status": "succeeded"}
