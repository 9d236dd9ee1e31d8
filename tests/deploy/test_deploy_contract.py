"""What the deployment files ask of the code exists in the code: every environment variable
they set is read by the platform and documented, every command they run exists, and the
entrypoint turns each role into the command of the shared contract.
"""

import http.server
import importlib.util
import os
import re
import subprocess
import sys
import threading
import tomllib

import pytest
from django.core.management import get_commands

from tests.deploy import deployfiles as df

# Read by the Python interpreter itself, not by the platform.
INTERPRETER_ENV = {"PATH", "PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
# Read by a library the platform uses, not by its own code: boto3 finds the S3 credentials in
# the environment (imprimatur/storage.py passes none), prometheus_client its folder.
LIBRARY_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PROMETHEUS_MULTIPROC_DIR"}
CODE_DIRS = ("imprimatur", "governance", "generation")


def deploy_texts() -> dict[str, str]:
    paths = [df.DOCKERFILE, df.ENTRYPOINT, df.COMPOSE, df.DEPLOY / "README.md"]
    paths += sorted(df.K8S.glob("*.yaml"))
    return {str(p.relative_to(df.REPO)): p.read_text() for p in paths}


def app_environment() -> dict[str, set[str]]:
    """Variable name → the deploy files that give it to a platform process."""
    found: dict[str, set[str]] = {}

    def add(names, where):
        for name in names:
            found.setdefault(name, set()).add(where)

    for name, service in df.app_services(df.compose()).items():
        add(service.get("environment", {}), f"compose.yaml:{name}")
    add(df.k8s_one("ConfigMap", "imprimatur-config")["data"], "k8s ConfigMap")
    add(df.k8s_one("Secret", "imprimatur-env")["stringData"], "k8s Secret imprimatur-env")
    for _, resource in df.k8s_resources():
        if resource["kind"] in ("Deployment", "Job"):
            for container in df.pod_spec(resource)["containers"]:
                add((e["name"] for e in container.get("env", [])), resource["metadata"]["name"])
    add(df.dockerfile_env_names("runtime") - INTERPRETER_ENV, "Dockerfile ENV")
    return found


def code_text() -> str:
    parts = [df.REPO.joinpath("manage.py").read_text()]
    for folder in CODE_DIRS:
        for path in sorted(df.REPO.joinpath(folder).rglob("*.py")):
            if "migrations" not in path.parts:
                parts.append(path.read_text())
    return "\n".join(parts)


def test_every_environment_variable_the_deploy_files_set_is_read_by_the_code():
    code = code_text()
    environment = app_environment()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "STORAGE_URL"} <= set(environment)
    missing = {
        name: sorted(where)
        for name, where in environment.items()
        if f'"{name}"' not in code and f"'{name}'" not in code and name not in LIBRARY_ENV
    }
    assert missing == {}, f"set by the deploy files but read nowhere in the code: {missing}"


def test_every_environment_variable_the_deploy_files_set_is_documented():
    docs = df.REPO.joinpath("README.md").read_text() + (df.DEPLOY / "README.md").read_text()
    undocumented = sorted(n for n in app_environment() if f"`{n}`" not in docs)
    assert undocumented == [], "document them in README.md's table or deploy/README.md"


def test_every_manage_py_command_the_deploy_files_run_exists():
    commands = set(get_commands())
    used = {}
    for where, text in deploy_texts().items():
        for name in re.findall(r"manage\.py[\"',\s]+([a-z][a-z_]+)\b(?!\.)", text):
            used.setdefault(name, set()).add(where)
    assert {"migrate", "collectstatic", "worker_ready"} <= set(used)
    missing = {name: sorted(where) for name, where in used.items() if name not in commands}
    assert missing == {}, f"no such management command: {missing}"


def test_every_python_module_the_deploy_files_name_exists():
    texts = "\n".join(deploy_texts().values())
    modules = set(re.findall(r"python:([a-z_.]+)", texts))  # gunicorn -c python:MODULE
    modules |= set(re.findall(r"\b(imprimatur\.wsgi)\b", texts))
    modules |= {f"{app}.celery" for app in re.findall(r"celery -A ([a-z_]+)", texts)}
    assert {"imprimatur.gunicorn", "imprimatur.wsgi", "imprimatur.celery"} <= modules
    for module in sorted(modules):
        assert importlib.util.find_spec(module) is not None, f"no module {module}"
    assert importlib.import_module("imprimatur.wsgi").application


def test_queues_the_workers_consume_are_the_celery_apps_queues():
    from imprimatur.celery import app

    queues = set(re.findall(r"-Q (\w+)", df.ENTRYPOINT.read_text()))
    assert queues == {"gpu", "default"}
    assert queues == {queue.name for queue in app.conf.task_queues}


def test_programs_the_entrypoint_runs_are_dependencies_of_the_project():
    project = tomllib.loads(df.REPO.joinpath("pyproject.toml").read_text())["project"]
    names = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in project["dependencies"]}
    programs = set(re.findall(r"exec (gunicorn|celery) ", df.ENTRYPOINT.read_text()))
    assert programs == {"gunicorn", "celery"}
    missing = programs - names
    assert missing == set(), f"the image would lack {missing}: add them to pyproject.toml"


# --- The entrypoint's roles, run with stand-in programs ---------------------------------------


@pytest.fixture
def fake_bin(tmp_path):
    """A folder of FAKE gunicorn, celery and python programs that print their command line
    instead of running: the entrypoint's choice of command is what is under test."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for program in ("gunicorn", "celery", "python"):
        script = folder / program
        script.write_text(f'#!/bin/sh\necho {program} "$@"\n')
        script.chmod(0o755)
    return folder


def entrypoint(*args, path_first, tmp_path, extra_env=None):
    env = {
        "PATH": f"{path_first}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "HOME": str(tmp_path),
        **(extra_env or {}),
    }
    return subprocess.run(
        ["bash", str(df.ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("args", "command"),
    [
        ((), "gunicorn -c python:imprimatur.gunicorn imprimatur.wsgi"),
        (("web",), "gunicorn -c python:imprimatur.gunicorn imprimatur.wsgi"),
        (
            ("worker-gpu",),
            "celery -A imprimatur worker -Q gpu --concurrency 1 --hostname gpu@%h --loglevel INFO",
        ),
        (
            ("worker-default", "--concurrency", "3"),
            "celery -A imprimatur worker -Q default --hostname default@%h --loglevel INFO "
            "--concurrency 3",
        ),
        (("beat",), "celery -A imprimatur beat --loglevel INFO"),
        (("migrate",), "python manage.py migrate --no-input"),
        (("manage", "audit_verify"), "python manage.py audit_verify"),
        (("echo", "passed", "through"), "passed through"),
    ],
)
def test_entrypoint_roles_run_the_contracts_commands(args, command, fake_bin, tmp_path):
    result = entrypoint(*args, path_first=fake_bin, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == command


def test_worker_healthcheck_asks_worker_ready_and_beat_is_healthy_while_it_runs(fake_bin, tmp_path):
    entrypoint("worker-gpu", path_first=fake_bin, tmp_path=tmp_path)
    result = entrypoint("healthcheck", path_first=fake_bin, tmp_path=tmp_path)
    assert result.stdout.strip() == "python manage.py worker_ready"
    entrypoint("beat", path_first=fake_bin, tmp_path=tmp_path)
    result = entrypoint("healthcheck", path_first=fake_bin, tmp_path=tmp_path)
    assert (result.returncode, result.stdout) == (0, "")


def test_web_role_clears_stale_prometheus_files(fake_bin, tmp_path):
    metrics = tmp_path / "prometheus"
    metrics.mkdir()
    (metrics / "counter_123.db").write_bytes(b"old")
    (metrics / "keep.txt").write_text("not ours")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    result = entrypoint("web", path_first=fake_bin, tmp_path=tmp_path, extra_env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in metrics.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("status", [200, 503])
def test_web_healthcheck_asks_healthz_as_an_allowed_https_host(status, fake_bin, tmp_path):
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers["Host"], self.headers["X-Forwarded-Proto"]))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        entrypoint("web", path_first=fake_bin, tmp_path=tmp_path)  # remembers the role
        env = {"PORT": str(server.server_port), "ALLOWED_HOSTS": ".example.com,other.example"}
        # The real Python this time: the probe is a Python snippet inside the entrypoint.
        python_dir = os.path.dirname(sys.executable)
        result = entrypoint("healthcheck", path_first=python_dir, tmp_path=tmp_path, extra_env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("/healthz", "example.com", "https")]
    assert result.returncode == (0 if status == 200 else 1), result.stderr
