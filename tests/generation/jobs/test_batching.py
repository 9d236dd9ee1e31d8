"""Cross-request batches in the worker: compatible queued jobs share one generation, each
keeps its own seed, cancellation, checks, assets and audit events. Real tiny pipeline and
real checks on the CPU."""

import pytest
from django.utils import timezone

from generation.jobs.batching import batch_cap, generation_jobs_run_next
from generation.jobs.models import Asset, GenerationJob
from governance.audit.models import AuditEvent
from tests.generation.jobs.factories import GenerationJobFactory


def queued(acme, **request):
    values = {"project": acme.project, "created_by": acme.users["creator"], "steps": 3}
    values.update(request)
    return GenerationJobFactory(**{f"request__{key}": value for key, value in values.items()})


@pytest.mark.django_db
def test_compatible_jobs_share_a_batch_and_cancelling_one_leaves_the_others(
    acme, settings, tiny_model_path
):
    settings.IMPRIMATUR_BATCH_MAX = 4
    settings.IMPRIMATUR_BATCH_WAIT_MS = 0
    first = queued(acme, seed=1)
    cancelled = queued(acme, seed=2, prompt="a cat")
    second = queued(acme, seed=3, num_images=2)
    odd = queued(acme, seed=4, steps=4)  # other steps: not in this batch
    from generation.jobs import batching

    original = batching._ItemProgress.__call__

    def cancel_on_first_step(self, step, total):
        # The user's click, between two steps of the batch (a real database write).
        if self.job.pk == cancelled.pk and step == 1:
            GenerationJob.objects.filter(pk=cancelled.pk).update(cancel_requested_at=timezone.now())
        return original(self, step, total)

    batching._ItemProgress.__call__ = cancel_on_first_step
    try:
        ended = generation_jobs_run_next(queue="gpu", worker="w@h:1:1")
    finally:
        batching._ItemProgress.__call__ = original
    assert len(ended) == 3
    for job in (first, cancelled, second, odd):
        job.refresh_from_db()
    assert (first.status, cancelled.status, second.status, odd.status) == (
        "succeeded",
        "cancelled",
        "succeeded",
        "queued",
    )
    assert Asset.objects.filter(job=first).count() == 1
    assert Asset.objects.filter(job=second).count() == 2
    assert not Asset.objects.filter(job=cancelled).exists()
    assert sorted(Asset.objects.filter(job=second).values_list("seed", flat=True)) == [3, 4]
    # Each image has its own checks and audit events.
    for asset in Asset.objects.all():
        assert asset.checks.exists()
        assert AuditEvent.objects.filter(
            action="generation.asset.create", target_id=str(asset.pk)
        ).exists()
    # Different seeds: different images.
    hashes = set(Asset.objects.values_list("sha256", flat=True))
    assert len(hashes) == 3


def test_the_cap_shrinks_with_the_size(settings):
    settings.IMPRIMATUR_BATCH_MAX = 8
    settings.IMPRIMATUR_BATCH_MAX_PIXELS = 4 * 512 * 512
    assert batch_cap(width=512, height=512) == 4
    assert batch_cap(width=256, height=256) == 8
    assert batch_cap(width=2048, height=2048) == 1
    settings.IMPRIMATUR_BATCH_MAX = 1
    assert batch_cap(width=64, height=64) == 1


@pytest.mark.django_db(transaction=True)  # the finishing thread has its own connection
def test_finishing_in_the_background_ends_the_jobs_only_once_checked_and_signed(
    acme, settings, tiny_model_path
):
    from generation.jobs.batching import finisher_wait

    settings.IMPRIMATUR_BATCH_MAX = 4
    settings.IMPRIMATUR_BATCH_WAIT_MS = 0
    settings.IMPRIMATUR_FINISH_IN_BACKGROUND = True
    from tests.imprimatur.test_metrics import scrape_value

    def batch_sizes() -> tuple[float, float]:
        model = acme.model.name
        return (
            scrape_value("imprimatur_generation_batch_size_count", model=model),
            scrape_value("imprimatur_generation_batch_size_sum", model=model),
        )

    before = batch_sizes()
    jobs = [queued(acme, seed=seed) for seed in (1, 2)]
    generation_jobs_run_next(queue="gpu", worker="w@h:1:1")
    after = batch_sizes()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)  # one batch of two
    # Generation is over; the jobs end only when their checks and signatures are done.
    finisher_wait()
    for job in jobs:
        job.refresh_from_db()
        assert job.status == "succeeded"
        asset = Asset.objects.get(job=job)
        assert asset.checks.exists() and asset.provenance
