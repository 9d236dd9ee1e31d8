"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (database, migrations,
broker and storage reachable) and ``/metrics`` (Prometheus text).

``ProbeMiddleware`` answers these three before Django's host and HTTPS checks run, so a
probe by pod IP over plain HTTP is answered; ``HttpMetricsMiddleware`` counts every request.
Each readiness check runs in its own thread and is given ``IMPRIMATUR_READYZ_TIMEOUT``
seconds: a broker that does not answer makes the probe fail, not hang. Answers name the
failing part and the kind of error, never a URL or a password.
"""

import hmac
import logging
import os
import threading
import time

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Min
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily

from generation.jobs.models import ModelProfile
from governance.reviews.models import ReviewTask
from imprimatur.metrics import http_request_observe, multiprocess_registry

logger = logging.getLogger(__name__)

PROBE_PATHS = {"/healthz", "/readyz", "/metrics"}


# --- Readiness checks -----------------------------------------------------------------------


def _secrets() -> list[str]:
    """Passwords that could appear in an error's text (in a URL): scrubbed from answers."""
    from urllib.parse import urlsplit

    found = []
    for url in (settings.CELERY_BROKER_URL, os.environ.get("DATABASE_URL", "")):
        try:
            password = urlsplit(url).password
        except ValueError:
            continue
        if password:
            found.append(password)
    found += [db.get("PASSWORD") or "" for db in settings.DATABASES.values()]
    found.append(os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    return [secret for secret in found if secret]


def _reason(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text[:300]


def check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_migrations() -> str:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = [f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5]]
        more = f" and {len(plan) - 5} more" if len(plan) > 5 else ""
        raise NotReady(f"{len(plan)} unapplied migration(s): {', '.join(names)}{more}")
    return "ok"


def broker_connection():
    """A kombu connection to the configured broker that gives up after the readiness timeout."""
    from kombu import Connection

    timeout = settings.IMPRIMATUR_READYZ_TIMEOUT
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    options.setdefault("socket_timeout", timeout)  # redis: each command, not only connecting
    return Connection(
        settings.CELERY_BROKER_URL, connect_timeout=timeout, transport_options=options
    )


def _connect(connection) -> None:
    """One try, no pause before it; kombu raises OperationalError when it fails."""
    connection.ensure_connection(
        max_retries=1, interval_start=0, timeout=settings.IMPRIMATUR_READYZ_TIMEOUT
    )


def check_broker() -> str:
    with broker_connection() as connection:
        _connect(connection)
        if settings.CELERY_BROKER_URL.startswith("filesystem://"):
            # The filesystem transport "connects" to anything: its folders must be there.
            options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
            for key in ("data_folder_in", "data_folder_out", "control_folder"):
                folder = options.get(key)
                if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
                    raise NotReady(f"the broker's {key.replace('_', ' ')} is not a writable folder")
        else:
            connection.default_channel  # noqa: B018  (opens a channel: one round trip)
    return "ok"


def check_storage() -> str:
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        location = storage.location
        # The storage would make the folder on the first upload; making it now writes
        # nothing anybody sees, and fails the same way the upload would.
        try:
            os.makedirs(location, exist_ok=True)
            os.listdir(location)
        except OSError as error:
            raise NotReady(f"the media folder cannot be used ({type(error).__name__})") from None
        if not os.access(location, os.W_OK | os.X_OK):
            raise NotReady("the media folder is not writable")
    elif getattr(storage, "bucket_name", None) and hasattr(storage, "connection"):
        # S3: a HEAD on the bucket itself (reachable, authorised, and there). A HEAD on an
        # object would answer 404 for a missing bucket as for a missing object.
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
    else:
        # Another remote storage: a look at a name nobody writes.
        storage.exists("readyz-probe")
    return "ok"


class NotReady(Exception):
    """A check's finding, said as it is (no exception type in front)."""


CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "storage": check_storage,
}


def _run_bounded(checks: dict, timeout: float) -> dict[str, str]:
    """Run each check in its own thread; one not done within `timeout` s counts as failed."""
    results: dict[str, str] = {}

    def run(name, check):
        try:
            results[name] = check()
        except NotReady as finding:
            results[name] = str(finding)
        except Exception as error:
            logger.warning("Readiness check %s failed", name, exc_info=True)
            results[name] = _reason(error)
        finally:
            connections.close_all()  # this thread's own database connections

    threads = {
        name: threading.Thread(target=run, args=(name, check), daemon=True, name=f"readyz-{name}")
        for name, check in checks.items()
    }
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout
    for name, thread in threads.items():
        thread.join(max(deadline - time.monotonic(), 0))
        if thread.is_alive():
            results.setdefault(name, f"no answer within {timeout:g} s")
    return {name: results[name] for name in checks}


# --- Views ------------------------------------------------------------------------------------


@never_cache
@require_safe
def healthz(request):
    """The process answers; touches nothing else (liveness)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    """200 when this instance can serve: database, migrations, broker and storage."""
    checks = _run_bounded(CHECKS, settings.IMPRIMATUR_READYZ_TIMEOUT)
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


@never_cache
@require_safe
def metrics_view(request):
    """Prometheus text: every process's values plus figures read now (review tasks, queues)."""
    token = settings.IMPRIMATUR_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("A bearer token is required.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    registry = multiprocess_registry()
    registry.register(ScrapeTimeCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


# --- Figures read when scraped ----------------------------------------------------------------


def queue_names() -> list[str]:
    """The queues Celery declares and those the model catalog routes jobs to."""
    from imprimatur.celery import app

    names = {queue.name for queue in app.conf.task_queues or ()}
    names.update(ModelProfile.objects.values_list("queue", flat=True).distinct())
    return sorted(name for name in names if name)


def queue_depths(names: list[str]) -> dict[str, int]:
    """Messages waiting in each queue, asked of the broker (a passive declare per queue: Redis
    counts its lists, the filesystem transport its message files, AMQP its queue)."""
    from kombu.exceptions import ChannelError

    depths = {}
    with broker_connection() as connection:
        _connect(connection)
        for name in names:
            channel = connection.channel()
            try:
                depths[name] = channel.queue_declare(queue=name, passive=True).message_count
            except ChannelError:  # never declared, or empty (Redis drops empty lists)
                depths[name] = 0
            finally:
                channel.close()
    return depths


class ScrapeTimeCollector:
    """Open review tasks and queue depths, read when /metrics is scraped (one query each)."""

    def collect(self):
        # The process's own figures are served even when the database cannot be read.
        try:
            tasks = ReviewTask.objects.filter(status=ReviewTask.Status.OPEN).aggregate(
                count=Count("id"), oldest=Min("created_at")
            )
            names = queue_names()
        except DatabaseError as error:
            logger.warning("Scrape-time figures not read from the database: %s", _reason(error))
            return
        yield GaugeMetricFamily(
            "imprimatur_review_tasks_open", "Review tasks waiting for a decision.", tasks["count"]
        )
        oldest = tasks["oldest"]
        yield GaugeMetricFamily(
            "imprimatur_review_task_oldest_age_seconds",
            "Age of the oldest open review task (0 when none is open).",
            (timezone.now() - oldest).total_seconds() if oldest else 0.0,
        )
        found = _run_bounded(
            {"queues": lambda: queue_depths(names)}, settings.IMPRIMATUR_READYZ_TIMEOUT
        )["queues"]
        reachable = GaugeMetricFamily(
            "imprimatur_broker_up", "1 when the broker answered this scrape's queue depth query."
        )
        reachable.add_metric([], 1 if isinstance(found, dict) else 0)
        yield reachable
        depth = GaugeMetricFamily(
            "imprimatur_queue_depth",
            "Messages waiting in each Celery queue (what an autoscaler scales workers on).",
            labels=["queue"],
        )
        if isinstance(found, dict):
            for name, count in found.items():
                depth.add_metric([name], count)
        else:
            logger.warning("Queue depth not read: %s", found)
        yield depth


# --- Middleware -------------------------------------------------------------------------------


class ProbeMiddleware:
    """Answer /healthz, /readyz and /metrics before the host and HTTPS checks of the middleware
    after it: probes call by pod IP, over plain HTTP. These views build no URL from the Host
    header, so answering them whatever it says poisons nothing. Put it first (after
    ``HttpMetricsMiddleware``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info in PROBE_PATHS:
            try:
                match = resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)
            request.resolver_match = match
            return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)


class HttpMetricsMiddleware:
    """Count requests and their latency by method, URL name and status: the URL's name,
    never its path, so one label value per route (``<unresolved>`` for a 404 or a redirect
    made before routing)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "<unnamed>") if match is not None else "<unresolved>"
        http_request_observe(
            method=request.method,
            view=view,
            status=response.status_code,
            seconds=time.monotonic() - started,
        )
        return response
