"""/metrics after real work: a job run in process with the tiny model, open review tasks in the
database, messages in the broker, HTTP requests; and its bearer token.

Every process of the test run writes to the same multiprocess folder (as the platform's do),
so tests compare figures before and after, never absolute ones."""

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from generation.jobs import worker
from generation.jobs.models import Asset, GenerationJob
from imprimatur import metrics
from tests.generation.jobs.factories import GenerationJobFactory


def scrape(client: Client | None = None, **headers) -> str:
    response = (client or Client()).get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def samples(text: str) -> list:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def scrape_value(name: str, text: str | None = None, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    text = scrape() if text is None else text
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and labels.items() <= sample.labels.items()
    )


@pytest.fixture(autouse=True, scope="module")
def tidy_multiprocess_folder():
    """Earlier test runs' files (dead processes) would slow every scrape down."""
    metrics.multiprocess_dir_tidy()


def test_one_job_run_is_counted(transactional_db, acme, tiny_model_path):
    model = acme.model.name
    names = {
        "running": ("imprimatur_jobs_total", {"status": "running", "model": model}),
        "succeeded": ("imprimatur_jobs_total", {"status": "succeeded", "model": model}),
        "wait": ("imprimatur_job_queue_wait_seconds_count", {"model": model}),
        "generation": (
            "imprimatur_job_stage_duration_seconds_count",
            {"stage": "generation", "model": model},
        ),
        "checks": (
            "imprimatur_job_stage_duration_seconds_count",
            {"stage": "checks", "model": model},
        ),
        "signing": (
            "imprimatur_job_stage_duration_seconds_count",
            {"stage": "signing", "model": model},
        ),
        "images": ("imprimatur_images_generated_total", {"model": model}),
        "verdicts": ("imprimatur_check_verdicts_total", {"trigger": "generation"}),
    }

    def figures() -> dict[str, float]:
        text = scrape()
        return {key: scrape_value(name, text, **labels) for key, (name, labels) in names.items()}

    before = figures()
    job = GenerationJobFactory(
        request__project=acme.project, request__num_images=2, request__steps=2
    )
    assert worker.generation_job_run(job_id=job.pk).status == GenerationJob.Status.SUCCEEDED
    after = figures()
    grown = {key: after[key] - before[key] for key in names}
    assert grown == {
        "running": 1,
        "succeeded": 1,
        "wait": 1,
        "generation": 1,
        "checks": 1,
        "signing": 1,
        "images": 2,
        "verdicts": 2,
    }
    # The verdicts are counted under the verdicts the assets got.
    for verdict in set(Asset.objects.filter(job=job).values_list("check_verdict", flat=True)):
        assert scrape_value("imprimatur_check_verdicts_total", verdict=verdict) >= 1


def test_a_transition_rolled_back_is_not_counted(transactional_db, acme):
    from django.db import transaction

    from generation.jobs.transitions import generation_job_transition

    job = GenerationJobFactory(request__project=acme.project)
    labels = {"status": "cancelled", "model": acme.model.name}
    before = scrape_value("imprimatur_jobs_total", **labels)
    with pytest.raises(RuntimeError), transaction.atomic():
        generation_job_transition(job=job, to=GenerationJob.Status.CANCELLED)
        raise RuntimeError("rolled back")
    assert scrape_value("imprimatur_jobs_total", **labels) == before
    generation_job_transition(job=job, to=GenerationJob.Status.CANCELLED)
    assert scrape_value("imprimatur_jobs_total", **labels) == before + 1


def test_open_review_tasks_and_their_age_are_read_from_the_database(db, acme):
    from tests.governance.reviews.conftest import open_prompt_review

    assert scrape_value("imprimatur_review_tasks_open") == 0
    assert scrape_value("imprimatur_review_task_oldest_age_seconds") == 0
    review = open_prompt_review(acme)
    open_prompt_review(acme)
    first = review.tasks.get()
    type(first).objects.filter(pk=first.pk).update(
        created_at=first.created_at.replace(year=first.created_at.year - 1)
    )
    text = scrape()
    assert scrape_value("imprimatur_review_tasks_open", text) == 2
    assert scrape_value("imprimatur_review_task_oldest_age_seconds", text) > 364 * 86400


def test_queue_depth_is_read_from_the_broker(db):
    from imprimatur.celery import app
    from tests.conftest import purge_test_queues

    purge_test_queues()
    text = scrape()
    assert scrape_value("imprimatur_broker_up", text) == 1
    assert 'imprimatur_queue_depth{queue="gpu"} 0.0' in text
    # A message nobody consumes (no worker runs in this test): its name is never a task.
    app.send_task("tests.metrics.no_such_task", queue="gpu")
    app.send_task("tests.metrics.no_such_task", queue="gpu")
    try:
        assert scrape_value("imprimatur_queue_depth", queue="gpu") == 2
        assert scrape_value("imprimatur_queue_depth", queue="default") == 0
    finally:
        purge_test_queues()


@pytest.mark.django_db
def test_an_unreachable_broker_leaves_the_rest_of_the_metrics_served():
    with override_settings(
        CELERY_BROKER_URL="redis://127.0.0.1:1/0", CELERY_BROKER_TRANSPORT_OPTIONS={}
    ):
        text = scrape()
    assert scrape_value("imprimatur_broker_up", text) == 0
    assert "imprimatur_queue_depth{" not in text
    assert "imprimatur_review_tasks_open" in text


@pytest.mark.django_db
def test_http_requests_are_counted_by_route_name_never_by_path():
    client = Client()
    before = scrape_value("imprimatur_http_requests_total", view="login", status="200")
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/no/such/page/12345/").status_code == 404
    text = scrape(client)
    assert scrape_value("imprimatur_http_requests_total", text, view="login", status="200") == (
        before + 1
    )
    assert scrape_value("imprimatur_http_request_duration_seconds_count", text, view="login") >= 1
    assert "12345" not in text
    assert scrape_value("imprimatur_http_requests_total", text, view="<unresolved>") >= 1


@pytest.mark.django_db
@override_settings(IMPRIMATUR_METRICS_TOKEN="s3cret-scrape-token")
def test_a_metrics_token_is_required_when_set():
    client = Client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "s3cret-scrape-token"}).status_code == (
        401
    )
    text = scrape(client, Authorization="Bearer s3cret-scrape-token")
    assert "imprimatur_http_requests_total" in text
