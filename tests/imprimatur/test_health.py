"""/healthz and /readyz against real parts: the test database, the configured broker, the media
folder; failures made real (a closed port, a broker that never answers, migrations rolled
back, a media folder that cannot exist)."""

import io
import socket
import time
import urllib.request

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from imprimatur.storage import FILESYSTEM_BACKEND
from tests.imprimatur.test_metrics import scrape_value


def closed_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_answers_without_the_database():
    # No database fixture: pytest-django makes any query here raise.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_when_database_broker_storage_and_migrations_are(transactional_db):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok", "storage": "ok"},
    }


@pytest.mark.django_db
def test_a_broker_on_a_closed_port_is_named_and_its_password_is_not():
    url = f"redis://:pw-not-to-show@127.0.0.1:{closed_port()}/0"
    with override_settings(CELERY_BROKER_URL=url, CELERY_BROKER_TRANSPORT_OPTIONS={}):
        started = time.monotonic()
        response = Client().get("/readyz")
        took = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["storage"] == "ok"
    assert "refused" in body["checks"]["broker"].lower(), body
    assert "pw-not-to-show" not in response.content.decode()
    assert took < 3


@pytest.mark.django_db
def test_a_broker_that_never_answers_fails_the_probe_in_bounded_time():
    # A real socket that accepts connections (the kernel's backlog) and never says a word.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with override_settings(
            CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0",
            CELERY_BROKER_TRANSPORT_OPTIONS={},
            IMPRIMATUR_READYZ_TIMEOUT=1.0,
        ):
            started = time.monotonic()
            response = Client().get("/readyz")
            took = time.monotonic() - started
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert "within 1 s" in broker or "timeout" in broker.lower() or "timed out" in broker, broker
    assert took < 2.5


def test_unapplied_migrations_are_named(transactional_db):
    # Roll a real app's migrations back on the test database, then forward again.
    call_command("migrate", "authtoken", "zero", verbosity=0)
    try:
        response = Client().get("/readyz")
    finally:
        call_command("migrate", "authtoken", verbosity=0)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["migrations"].startswith("4 unapplied migration(s): authtoken.0001_initial,")
    assert checks["database"] == checks["broker"] == checks["storage"] == "ok"
    assert Client().get("/readyz").status_code == 200


@pytest.mark.django_db
def test_a_media_folder_that_cannot_exist_is_named(tmp_path, settings):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # The local folder, also when the suite runs on S3 (IMPRIMATUR_TEST_S3).
    local = {**settings.STORAGES, "default": {"BACKEND": FILESYSTEM_BACKEND}}
    with override_settings(MEDIA_ROOT=blocker / "media", STORAGES=local):
        response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert "media folder" in checks["storage"]
    assert str(tmp_path) not in checks["storage"]  # no paths in an unauthenticated answer
    assert checks["broker"] == "ok"


@pytest.mark.django_db
def test_a_broker_folder_that_is_gone_is_named(tmp_path, settings):
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("the filesystem transport's own check")
    options = dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS)
    options["data_folder_in"] = str(tmp_path / "gone")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = options
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert "data folder in" in response.json()["checks"]["broker"]


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["imprimatur.example.com"])
def test_probes_answer_any_host_over_plain_http_other_pages_do_not():
    client = Client(HTTP_HOST="10.1.2.3:8000")  # a pod IP, as a kubelet probe sends
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/accounts/login/").status_code == 400  # DisallowedHost
    secure_host = Client(HTTP_HOST="imprimatur.example.com")
    assert secure_host.get("/accounts/login/").status_code == 301  # to https
    assert secure_host.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_probes_refuse_writes():
    assert Client().post("/readyz").status_code == 405
    assert Client().head("/healthz").status_code == 200


@pytest.mark.django_db
def test_probes_are_counted_under_their_route_name():
    before = scrape_value("imprimatur_http_requests_total", view="healthz", status="200")
    Client().get("/healthz")
    after = scrape_value("imprimatur_http_requests_total", view="healthz", status="200")
    assert after == before + 1


def worker_ready(*args: str) -> tuple[int, str]:
    """Run `manage.py worker_ready` in process: its exit status and what it said."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("worker_ready", *args, stdout=out, stderr=err)
    except SystemExit as exited:
        return exited.code, out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def test_no_worker_is_not_ready(transactional_db):
    from tests.conftest import purge_test_queues

    purge_test_queues()
    code, said = worker_ready("--hostname", "nobody@%h", "--timeout", "0.5")
    assert code == 1
    assert f"worker nobody@{socket.gethostname()} did not answer within 0.5 s" in said


def test_worker_ready_pings_a_real_worker_and_it_serves_its_metrics(start_worker, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("IMPRIMATUR_WORKER_METRICS_PORT", str(port))
    worker = start_worker(hostname="probe-test@%h")
    host = socket.gethostname()
    code, said = worker_ready("--hostname", "probe-test@%h")
    assert (code, said.strip()) == (0, f"ready: probe-test@{host}")
    code, said = worker_ready()  # any worker of this host
    assert code == 0 and f"probe-test@{host}" in said
    code, said = worker_ready("--hostname", "other@%h", "--timeout", "0.5")
    assert code == 1 and f"worker other@{host} did not answer" in said
    # The worker's main process serves the metrics of the shared multiprocess folder: what
    # this (test) process counted shows there too.
    Client().get("/healthz")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    assert 'imprimatur_http_requests_total{method="GET",status="200",view="healthz"}' in text
    worker.stop()
    code, said = worker_ready("--hostname", "probe-test@%h", "--timeout", "0.5")
    assert code == 1 and "did not answer" in said


def _s3_storages(settings, url: str, environment: dict) -> dict:
    from imprimatur.storage import storage_backend

    return {**settings.STORAGES, "default": storage_backend(url, env=environment)}


def test_the_bucket_on_s3_is_checked(transactional_db, s3_storage, settings):
    """Ready with the real SeaweedFS bucket; a bucket that is not there (a typo in
    STORAGE_URL, a bucket deleted) is named, though a HEAD on an object answers 404 either way."""
    assert Client().get("/readyz").json()["checks"]["storage"] == "ok"
    missing = s3_storage.storage_url.replace(s3_storage.bucket, "no-such-bucket")
    with override_settings(STORAGES=_s3_storages(settings, missing, s3_storage.environment())):
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] != "ok"
    assert s3_storage.secret_key not in response.content.decode()


def test_an_s3_endpoint_that_is_down_is_named(transactional_db, s3_storage, settings):
    down = s3_storage.storage_url.replace(s3_storage.endpoint, f"http://127.0.0.1:{closed_port()}")
    with override_settings(STORAGES=_s3_storages(settings, down, s3_storage.environment())):
        started = time.monotonic()
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] != "ok"
    assert response.json()["checks"]["database"] == "ok"
    assert time.monotonic() - started < 10
