"""The whole generation path with a real Celery worker process.

The broker is the one configured: Redis under CI (CELERY_BROKER_URL), kombu's filesystem
transport under var/test/ otherwise. The worker shares the test database.
"""

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from governance.audit.models import AuditEvent
from tests.conftest import submit, wait_until_finished

pytestmark = pytest.mark.e2e


def test_submitted_request_is_generated_by_a_real_worker(acme, celery_worker):
    client = acme.client("creator")
    request_id = submit(
        acme,
        {"prompt": "a red star on a navy background", "width": 64, "height": 96,
         "steps": 4, "num_images": 2, "seed": 1234},
    )  # fmt: skip
    request = wait_until_finished(request_id)
    assert request.status == "succeeded", (request.error, celery_worker.output())

    assets = list(request.assets.order_by("index"))
    assert [asset.seed for asset in assets] == [1234, 1235]
    for asset in assets:
        with default_storage.open(asset.image.name, "rb") as stored:
            png = stored.read()
        image = Image.open(io.BytesIO(png))
        image.verify()
        assert image.format == "PNG"
        assert image.size == (64, 96)

    job = request.jobs.get()
    assert (job.status, job.attempts, job.current_step, job.total_steps) == ("succeeded", 1, 4, 4)

    body = client.get(f"/api/v1/requests/{request_id}/").json()
    assert body["status"] == "succeeded"
    file_response = client.get(body["assets"][0]["url"])
    assert file_response.status_code == 200
    assert file_response["Content-Type"] == "image/png"
    assert b"".join(file_response.streaming_content).startswith(b"\x89PNG")

    actions = list(
        AuditEvent.objects.filter(organization=acme.organization).values_list("action", flat=True)
    )
    assert actions.count("generation.asset.create") == 2
    assert "generation.request.submit" in actions
    assert actions[-2:] == ["generation.job.transition", "generation.request.transition"]
