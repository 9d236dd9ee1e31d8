"""Scale-out, end to end with real processes: three workers as three machines.

Each worker has its own empty state folder and node name; it shares only PostgreSQL, Redis
and a SeaweedFS bucket with the web side (this test process), and gets its signing key and
chain as files, as mounted secrets. Twelve requests are each done exactly once, by more than
one worker; their files are in the bucket and download through the web. One worker is killed
with SIGKILL in the middle of a job, and its job is taken over once its lease runs out, as
the beat's periodic sweep does in production.
"""

import hashlib

import pytest
from django.db import connection

from generation.jobs import signing
from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from generation.jobs.worker import generation_jobs_recover
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 4


def test_three_machines_share_only_the_database_the_broker_and_the_bucket(
    acme, tiny_model_path, start_worker, s3_storage, tmp_path, settings
):
    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("Machines share PostgreSQL and Redis: run with DATABASE_URL and a Redis broker")
    settings.IMPRIMATUR_JOB_LEASE_SECONDS = LEASE_SECONDS
    signer = signing.signer_paths()  # the secrets every machine mounts
    secrets = {
        "IMPRIMATUR_SIGNER_CHAIN": str(signer.chain),
        "IMPRIMATUR_SIGNER_KEY": str(signer.key),
        "IMPRIMATUR_TRUST_ANCHORS": str(signer.anchors),
    }
    machines = {}
    for name in ("alpha", "beta", "gamma"):
        state = tmp_path / f"machine-{name}"  # its own empty state folder
        env = {
            "IMPRIMATUR_VAR_DIR": str(state),
            "IMPRIMATUR_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            **secrets,
            **s3_storage.environment(),
        }
        machines[name] = start_worker(hostname=f"gpu@{name}", env=env, wait=False)
    for process in machines.values():
        process.wait_until_ready()

    client = acme.client("creator")
    url = f"/api/v1/projects/{acme.project.slug}/requests/"
    slow = client.post(
        url,
        {"prompt": "slow", "width": 128, "height": 128, "steps": 60, "num_images": 1},
        format="json",
    ).json()["id"]
    quick = [
        client.post(url, {"prompt": f"a red star {n}", "steps": 4}, format="json").json()["id"]
        for n in range(11)
    ]
    slow_job = GenerationJob.objects.get(request_id=slow)
    running = wait_for(
        lambda: GenerationJob.objects.filter(pk=slow_job.pk, current_step__gte=2).first(),
        timeout=180,
        what="the slow job to be under way",
    )
    victim = next(p for n, p in machines.items() if running.worker.startswith(f"gpu@{n}:"))
    victim.kill()  # SIGKILL: the machine is gone, mid-job

    # The sweep (Celery beat's recover_stale_jobs) sends the job again once its lease ran out.
    def recovered():
        return slow_job.pk in generation_jobs_recover()

    wait_for(recovered, timeout=60, interval=1, what="the silent job to be sent again")
    requests = GenerationRequest.objects.filter(pk__in=[slow, *quick])
    wait_for(
        lambda: not requests.exclude(status="succeeded").exists(),
        timeout=300,
        what="all twelve requests to succeed",
    )

    jobs = GenerationJob.objects.filter(request__in=requests)
    assert jobs.count() == 12
    assert GenerationJob.objects.get(pk=slow_job.pk).attempts == 2
    hosts = {job.worker.split(":")[0] for job in jobs}
    assert len(hosts) >= 2, hosts
    # Taken over by another machine.
    assert (
        GenerationJob.objects.get(pk=slow_job.pk).worker.split(":")[0]
        != (running.worker.split(":")[0])
    )
    assets = Asset.objects.filter(request__in=requests)
    assert assets.count() == 12  # one image each, stored once
    objects = s3_storage.client()
    for asset in assets:
        stored = objects.get_object(Bucket=s3_storage.bucket, Key=asset.image.name)["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == asset.sha256
        response = client.get(f"/api/v1/assets/{asset.pk}/file/", follow=True)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == stored
    # Nothing of the platform's files went to a machine's own folder.
    for name in machines:
        media = tmp_path / f"machine-{name}" / "media"
        assert not media.exists() or not any(media.rglob("*.png"))
