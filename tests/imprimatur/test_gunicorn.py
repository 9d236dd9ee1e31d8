"""The production web process: the real gunicorn with imprimatur/gunicorn.py, DEBUG off, a fresh
SQLite database and state folder of its own. Probes, WhiteNoise's static files and /metrics
answer over HTTP; readiness waits for the migrations."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOST = "imprimatur.example.com"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def production_env(var_dir: Path, port: int) -> dict[str, str]:
    # The test run's own database, broker, metrics folder and settings are left out: the server
    # gets the defaults of a fresh install under var_dir.
    dropped = {
        "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "PROMETHEUS_MULTIPROC_DIR",
        "STATIC_ROOT", "MEDIA_ROOT", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS",
    }  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env.update(
        IMPRIMATUR_VAR_DIR=str(var_dir),
        DEBUG="0",
        SECRET_KEY="k3Jd9sLq2mX8vB4nR7tY1wZ5cF0gH6pA2eU9iO3lQ8nM4bV7cX1zS6dG",
        ALLOWED_HOSTS=f"{HOST},127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        PYTHONUNBUFFERED="1",
    )
    return env


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the test looks at the redirect itself


# Straight to the server: no proxy from the environment, no redirect followed.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def get(url: str, **headers) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Host": HOST, **headers})
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def manage(env: dict, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def gunicorn_server(tmp_path):
    port = free_port()
    env = production_env(tmp_path / "var", port)
    manage(env, "collectstatic", "--no-input", "--verbosity", "0")
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:imprimatur.gunicorn", "imprimatur.wsgi"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(log_path.read_text())
            try:
                if get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer:\n" + log_path.read_text())
            time.sleep(0.2)
        yield base, env, tmp_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_gunicorn_serves_probes_static_files_and_metrics(gunicorn_server):
    base, env, tmp_path = gunicorn_server
    status, _, body = get(f"{base}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})

    # A fresh database: the instance lives, but is not ready until it is migrated.
    status, _, body = get(f"{base}/readyz")
    assert status == 503
    checks = json.loads(body)["checks"]
    assert checks["migrations"].startswith(("1", "2", "3", "4", "5", "6", "7", "8", "9"))
    assert "unapplied migration" in checks["migrations"]
    assert checks["database"] == checks["broker"] == checks["storage"] == "ok"
    manage(env, "migrate", "--no-input", "--verbosity", "0")
    status, _, body = get(f"{base}/readyz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ready"

    # Probes answer by IP over plain HTTP; a page wants HTTPS (behind the proxy that says so).
    assert get(f"{base}/healthz", Host=f"127.0.0.1:{base.rsplit(':', 1)[1]}")[0] == 200
    assert get(f"{base}/accounts/login/")[0] == 301
    assert get(f"{base}/accounts/login/", **{"X-Forwarded-Proto": "https"})[0] == 200

    # WhiteNoise: the hashed name from collectstatic's manifest, cached for ever.
    manifest = json.loads((tmp_path / "var" / "static" / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    status, headers, body = get(f"{base}/static/{hashed}", **{"X-Forwarded-Proto": "https"})
    assert status == 200
    assert b"body" in body
    assert "max-age=315360000" in headers["Cache-Control"]
    assert headers["Content-Type"].startswith("text/css")

    # /metrics adds up what both gunicorn workers counted.
    status, headers, body = get(f"{base}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    text = body.decode()
    assert 'imprimatur_http_requests_total{method="GET",status="200",view="healthz"}' in text
    assert 'imprimatur_http_requests_total{method="GET",status="503",view="readyz"} 1.0' in text
    assert 'imprimatur_queue_depth{queue="gpu"} 0.0' in text
    assert "imprimatur_review_tasks_open 0.0" in text
    # The metrics folder is the default under the state folder, one file per process kind.
    assert list((tmp_path / "var" / "prometheus").glob("counter_*.db"))
