"""Training a style on the tiny model: it stops when an admin asks and resumes from its
checkpoint, is evaluated (CMMD with and without it) with samples kept, goes to review, and
once approved its adapter loads on the worker and every image made with it says so in its
C2PA manifest."""

import json
import threading
import time

import pytest
from safetensors import safe_open

from generation.jobs import signing, worker
from generation.jobs.models import Asset
from generation.jobs.services import generation_request_submit
from generation.provenance import verify
from generation.styles import services, training
from generation.styles.models import StyleModel
from generation.styles.training import style_train_run
from governance.reviews.models import Review
from governance.reviews.services import task_decide
from tests.generation.styles.helpers import style_create


@pytest.fixture
def small_evaluation(settings, tmp_path):
    settings.IMPRIMATUR_STYLE_EVALUATION_IMAGES = 2
    settings.IMPRIMATUR_STYLE_WORK_DIR = tmp_path / "work"
    settings.IMPRIMATUR_STYLE_CACHE_DIR = tmp_path / "cache"


def wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_training_stops_resumes_and_the_approved_style_is_used_and_named(
    acme, tiny_model_path, small_evaluation
):
    acme.model.default_steps = 2  # the evaluation's images: few steps on the tiny model
    acme.model.save()
    style = style_create(acme, steps=12, batch_size=2, rank=2)
    style = services.style_train(style=style, user=acme.users["admin"])
    assert style.status == StyleModel.Status.TRAINING

    # A worker trains it (the task calls this); an admin stops it partway.
    results = {}
    thread = threading.Thread(
        target=lambda: results.setdefault("first", style_train_run(style_id=style.pk, worker="w1"))
    )
    thread.start()
    wait_for(lambda: StyleModel.objects.get(pk=style.pk).steps_done > 0)
    services.style_cancel(style=style, user=acme.users["admin"])
    thread.join(timeout=300)
    stopped = StyleModel.objects.get(pk=style.pk)
    assert stopped.status == StyleModel.Status.CANCELLED, stopped.error
    assert 0 < stopped.steps_done < 12 and stopped.error.startswith("Stopped by an admin")
    first_losses = list(stopped.losses)
    assert len(first_losses) == stopped.steps_done

    # Resumed: it continues from the checkpoint, not from the start.
    services.style_train(style=stopped, user=acme.users["admin"])
    done = style_train_run(style_id=style.pk, worker="w1")
    assert done.status == StyleModel.Status.IN_REVIEW, done.error
    assert done.steps_done == 12 and len(done.losses) == 12
    assert done.losses[: len(first_losses)] == first_losses
    assert done.weights_sha256 and done.weights_bytes > 0
    evaluation = done.evaluation
    assert evaluation["cmmd_base"] >= 0 or evaluation["cmmd_base"] < 0  # a finite number
    assert evaluation["images"] == 2 and evaluation["held_out"] == 2
    assert {sample.with_style for sample in done.samples.all()} == {True, False}

    # Compliance approves it; a request names it; the adapter loads on the worker.
    review = Review.objects.get(kind="style", object_id=style.pk)
    task_decide(task=review.tasks.get(), user=acme.users["compliance"], decision="approve")
    assert StyleModel.objects.get(pk=style.pk).status == StyleModel.Status.APPROVED
    request = generation_request_submit(
        project=acme.project,
        user=acme.users["creator"],
        prompt="a brand square",
        params={"styles": [{"name": "outline", "weight": 0.8}], "steps": 2},
    )
    job = request.jobs.get()
    worker.generation_job_run(job_id=job.pk, worker="w1")
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    asset = Asset.objects.get(job=job)
    with asset.image.open("rb") as handle:
        report = verify(
            handle.read(),
            trust_anchors_pem=signing.trust_anchors(),
            generation_label="org.imprimatur.generation",
        ).to_dict()
    assert report["status"] == "trusted", report["failures"]
    assert report["parameters"]["styles"] == [
        {"name": "outline", "version": "1", "weight": "0.8", "sha256": done.weights_sha256}
    ]


@pytest.mark.django_db
def test_a_style_of_two_members_trains_both_and_keeps_their_average(acme, small_evaluation):
    acme.model.default_steps = 2
    acme.model.save()
    style = style_create(acme, steps=3, batch_size=2, rank=2, members=2)
    assert style.total_steps == 6 and style.config["lr_schedule"] == "cosine"
    services.style_train(style=style, user=acme.users["admin"])
    done = style_train_run(style_id=style.pk, worker="w1")
    assert done.status == StyleModel.Status.IN_REVIEW, done.error
    assert done.steps_done == 6 and len(done.losses) == 6
    work = training.style_work_dir(done)
    assert sorted(p.name for p in work.glob("member-*")) == ["member-0", "member-1"]
    with done.weights.open("rb") as handle:
        stored = handle.read()
    assert stored == (work / "pytorch_lora_weights.safetensors").read_bytes()
    with safe_open(str(work / "pytorch_lora_weights.safetensors"), "pt") as file:
        metadata = json.loads(file.metadata()["lora_adapter_metadata"])
    assert metadata["unet.r"] == 4  # two rank-2 runs side by side
