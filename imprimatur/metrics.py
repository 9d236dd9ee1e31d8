"""Prometheus metrics: their definitions and the few functions the platform calls to count.

Every process (gunicorn workers, Celery pool processes, the test process) writes its values to
files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode); whoever serves
``/metrics`` (the web, a worker's metrics port) adds the files of all processes up. Settings
set that folder before anything imports prometheus_client (``VAR_DIR/prometheus`` unless
configured). Figures read from the database or the broker when scraped (open review tasks,
queue depth) are collectors of ``imprimatur/health.py``, not values kept here.

Counting never breaks what it counts: each function here swallows its own errors (logged).
Job counts are taken once the transaction that made them commits.
"""

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

from django.db import transaction
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess

logger = logging.getLogger(__name__)

# Seconds: a job waits from a few ms (idle worker) to hours (a long queue).
_WAIT_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
# Seconds a pipeline stage takes: the tiny CPU model runs in tenths, SDXL on a GPU in tens.
_STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)

HTTP_REQUESTS = Counter(
    "imprimatur_http_requests_total",
    "HTTP requests answered, by method, URL name (never the raw path) and status code.",
    ["method", "view", "status"],
)
HTTP_LATENCY = Histogram(
    "imprimatur_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and URL name.",
    ["method", "view"],
)
JOBS = Counter(
    "imprimatur_jobs_total",
    "Generation job transitions, by the status reached and the model profile.",
    ["status", "model"],
)
JOB_QUEUE_WAIT = Histogram(
    "imprimatur_job_queue_wait_seconds",
    "Time from a job's creation to its start on a worker (each start).",
    ["model"],
    buckets=_WAIT_BUCKETS,
)
JOB_STAGE = Histogram(
    "imprimatur_job_stage_duration_seconds",
    "Time a job spends in each stage of the worker pipeline (generation, checks, signing).",
    ["stage", "model"],
    buckets=_STAGE_BUCKETS,
)
IMAGES = Counter(
    "imprimatur_images_generated_total",
    "Images the engine generated (before checks; kept or not).",
    ["model"],
)
BATCH_SIZE = Histogram(
    "imprimatur_generation_batch_size",
    "Jobs generated together in one batch (1: alone), by model.",
    ["model"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16),
)
VERDICTS = Counter(
    "imprimatur_check_verdicts_total",
    "Output check verdicts recorded on assets, by verdict and what ran them.",
    ["verdict", "trigger"],
)

_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _safely(function):
    """Metrics must never fail a request or a job: log and go on."""

    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            logger.exception("Recording a metric failed (%s)", function.__name__)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


def _model_name(job) -> str:
    profile = getattr(job.request, "model_profile", None)
    return profile.name if profile is not None else ""


# --- What the platform calls --------------------------------------------------------------


@_safely
def http_request_observe(*, method: str, view: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(method, view, str(status)).inc()
    HTTP_LATENCY.labels(method, view).observe(seconds)


@_safely
def job_transitioned(job, previous: str, to: str) -> None:
    """Called by ``generation_job_transition`` inside its transaction: counted on commit.
    The queue wait is observed on a first start (queued → running), not on a redelivery."""

    def count() -> None:
        model = _model_name(job)
        JOBS.labels(str(to), model).inc()
        if str(previous) == "queued" and str(to) == "running" and job.started_at:
            JOB_QUEUE_WAIT.labels(model).observe(
                max((job.started_at - job.created_at).total_seconds(), 0.0)
            )

    transaction.on_commit(_safely(count))


@contextlib.contextmanager
def job_stage(stage: str, job) -> Iterator[None]:
    """Time one stage of a job's pipeline (also when it raises)."""
    started = time.monotonic()
    try:
        yield
    finally:
        _stage_observe(stage, job, time.monotonic() - started)


@_safely
def _stage_observe(stage: str, job, seconds: float) -> None:
    JOB_STAGE.labels(stage, _model_name(job)).observe(seconds)


@_safely
def images_generated(job, count: int) -> None:
    IMAGES.labels(_model_name(job)).inc(count)


@_safely
def batch_generated(job, size: int) -> None:
    """A batch of ``size`` jobs (``job`` the first) went through the pipeline together."""
    BATCH_SIZE.labels(_model_name(job)).observe(size)


@_safely
def verdict_recorded(verdict: str, trigger: str) -> None:
    """Called by ``asset_checks_record`` inside its transaction: counted on commit."""
    transaction.on_commit(_safely(lambda: VERDICTS.labels(str(verdict), str(trigger)).inc()))


# --- The multiprocess folder and serving it -------------------------------------------------

_FILE_PID = re.compile(r"_(\d+)\.db$")


def multiprocess_dir() -> Path:
    return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def multiprocess_dir_tidy() -> list[str]:
    """Remove the files of processes that are no longer alive on this machine.

    Called when a process tree starts (the gunicorn master, a Celery worker's main process):
    values of a dead earlier run would otherwise add up forever. A live process's file is
    never removed, so a web and a worker sharing one folder (``make run``) may each start
    while the other runs. A folder must not be shared by processes of different machines or
    containers (their pids mean nothing here): give each its own, e.g. an emptyDir.
    """
    removed = []
    folder = multiprocess_dir()
    for path in folder.glob("*.db"):
        match = _FILE_PID.search(path.name)
        if match and not _pid_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path.name)
    return removed


def multiprocess_registry() -> CollectorRegistry:
    """A registry with the values of every process that writes to the multiprocess folder."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


# bandit B104: a worker's metrics port (off unless set) is for the scraper outside its container.
def worker_metrics_serve(port: int, addr: str = "0.0.0.0") -> None:  # nosec B104
    """Serve the multiprocess registry on `port` from this (a worker's main) process."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=multiprocess_registry())
    logger.info("Worker metrics on port %d (/metrics).", port)
