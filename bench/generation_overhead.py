"""How much time does the platform add to an image generation, over calling diffusers directly?

Two ways of making the same image (same model, prompt, seed, steps, size), interleaved:

  raw       a bare diffusers call in this process: the pipeline is loaded once with
            AutoPipelineForText2Image.from_pretrained(...), then each round calls it with a
            seeded torch.Generator and output_type="pil";
  platform  a request submitted through the HTTP API (POST /api/v1/projects/<slug>/requests/
            with a token) and run by a real Celery worker process; timed from just before
            the POST until a poll of the database row (or of the API) sees "succeeded".

The platform runs in its own processes and state under var/bench (reset at every start):
its own SQLite database, broker, media, demo data, tiny model, web server and worker. A
developer's `make run` state under var/ is never touched.

Printed: setup times, every round, where the platform's time goes (from the database's
timestamps and the worker's log), whether the first job on a fresh worker paid for loading the
model, and as the last line:

  raw_s=<median> platform_s=<median> overhead_ratio=<platform/raw>
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VAR_DIR = REPO / "var" / "bench"
MARKER = ".imprimatur-bench"  # marks a folder this script may empty
DEMO_ORGANIZATION = "acme"
DEMO_PROJECT = "spring-campaign"
DEMO_USER = "creator"
DEMO_PASSWORD = "bench-demo-password"  # only ever used in the benchmark's own database
CATALOG_MODEL_NAME = "bench"  # the model's name where the platform has a model catalog
TASK_NAME = "generation.jobs.run_generation_job"
FINISHED = {"succeeded", "failed", "cancelled"}

# --- Per-job platform features -----------------------------------------------------------
# Output checks (safety, brand) and C2PA signing will each be switchable by a setting when
# they land. This is the one place to name those settings: `--checks on|off` sets every
# variable below for the web and worker processes. None of them has an effect yet.
FEATURE_SWITCHES = ("IMPRIMATUR_CHECKS_ENABLED",)


# The parts of the task that the in-process probe times: (where, function, label, nested).
# Nested parts run inside an earlier one and are not added up. A part the platform no longer
# has is noted and skipped.
PROBED = [
    ("pipelines", "generate", "engine generate(): diffusers + progress callback", False),
    ("JobProgress", "__call__", "progress callback (cancel check, progress writes)", True),
    ("pipelines", "image_to_png_bytes", "PNG encoding", False),
    ("worker", "asset_store", "asset_store(): re-read PNG, SHA-256, file, row, audit", False),
    ("worker", "generation_job_transition", "job transitions (with audit rows)", False),
    ("worker", "generation_request_transition", "request transitions (with audit rows)", False),
    ("events", "audit_record", "audit rows (inside the three above)", True),
]


class Timers:
    """Wraps functions of the platform, in this process only, to add up their time."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._originals: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attribute: str, label: str) -> bool:
        original = getattr(owner, attribute, None)
        if original is None:
            return False

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(owner, attribute, timed)
        self._originals.append((owner, attribute, original))
        return True

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"seconds": dict(self.seconds), "calls": dict(self.calls)}

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._originals):
            setattr(owner, attribute, original)
        self._originals.clear()


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


def say(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- Command line --------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError("give N (square) or WxH, e.g. 64 or 512x768")
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if width % 8 or height % 8 or not width or not height:
        raise argparse.ArgumentTypeError("width and height must be positive multiples of 8")
    return width, height


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="generation_overhead.py",
        description=__doc__.split("\n\n")[0]
        + " Runs raw diffusers and the full platform (HTTP API, Celery worker, database) "
        "on the same model and parameters, interleaved, and reports medians.",
        epilog="Example: .venv/bin/python bench/generation_overhead.py --broker "
        "redis://127.0.0.1:6379/15 --rounds 7. The last line of the output is "
        "'raw_s=<median> platform_s=<median> overhead_ratio=<platform/raw>'. "
        "See bench/README.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    work = parser.add_argument_group("what each round generates")
    work.add_argument("--prompt", default="a red star on a navy background")
    work.add_argument("--steps", type=int, default=20, help="denoising steps")
    work.add_argument(
        "--size", type=parse_size, default="64", metavar="N|WxH", help="image size in pixels"
    )
    work.add_argument("--images", type=int, default=1, help="images per request")
    work.add_argument("--guidance", type=float, default=7.5, help="guidance scale")
    work.add_argument("--seed", type=int, default=7, help="fixed seed (image i uses seed + i)")
    work.add_argument(
        "--model-path",
        type=Path,
        default=None,
        help="a local diffusers pipeline directory (default: the tiny random-weight pipeline, "
        "built once under the var dir by `manage.py make_tiny_pipeline --if-missing`)",
    )

    rounds = parser.add_argument_group("rounds")
    rounds.add_argument("--rounds", type=int, default=7, help="measured rounds (raw + platform)")
    rounds.add_argument(
        "--warmup", type=int, default=1, help="unmeasured rounds first (raw + platform)"
    )
    rounds.add_argument(
        "--poll",
        choices=("db", "api"),
        default="db",
        help="how to see that a request finished: read its database row (cheap, so it barely "
        "competes with the worker for the CPU) or GET /api/v1/requests/<id>/",
    )
    rounds.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="seconds between looks (default: 0.01 for db, 0.1 for api: each GET costs the "
        "web server about 5 ms of CPU, which the worker would feel on a small machine)",
    )
    rounds.add_argument(
        "--busy-limit",
        type=float,
        default=0.15,
        help="a measured round during which other processes used more CPU than this (in "
        "cores) is discarded and run again (see --max-redos)",
    )
    rounds.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="before each round, wait up to this many seconds until other processes use "
        "less than --busy-limit (this machine may be shared); 0: do not wait",
    )
    rounds.add_argument(
        "--max-redos",
        type=int,
        default=10,
        help="at most this many rounds are run again; 0 keeps every round",
    )
    rounds.add_argument(
        "--job-timeout", type=float, default=300, help="seconds one platform job may take"
    )

    platform = parser.add_argument_group("the platform's processes")
    platform.add_argument(
        "--broker",
        default="filesystem://",
        help="Celery broker: kombu's filesystem broker under the var dir (polls every 0.2 s), "
        "or a Redis URL such as redis://127.0.0.1:6379/15. That Redis database is FLUSHED at "
        "start: give one nobody else uses (db 0 is refused)",
    )
    platform.add_argument(
        "--web",
        choices=("wsgi", "runserver"),
        default="wsgi",
        help="wsgi: bench/wsgi_server.py, Django's threaded WSGI server without autoreload, "
        "checks or per-request logging; runserver: `manage.py runserver --noreload`",
    )
    platform.add_argument(
        "--checks",
        choices=("off", "on"),
        default="off",
        help="output checks and signing, once the platform has them: sets "
        + ", ".join(FEATURE_SWITCHES)
        + " to 1 or 0 for the platform processes (no effect yet)",
    )
    platform.add_argument(
        "--var-dir",
        type=Path,
        default=DEFAULT_VAR_DIR,
        help="IMPRIMATUR_VAR_DIR of the platform processes; emptied at start except models/",
    )

    parser.add_argument(
        "--probe-jobs",
        type=int,
        default=5,
        help="after the rounds, stop the worker and run this many jobs' Celery task in this "
        "process with timers around its parts (0: skip)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write all numbers here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1 and --warmup at least 0")
    if args.steps < 1 or args.images < 1:
        parser.error("--steps and --images must be at least 1")
    if args.poll_interval is None:
        args.poll_interval = 0.01 if args.poll == "db" else 0.1
    if args.poll_interval <= 0:
        parser.error("--poll-interval must be positive")
    if not (args.broker.startswith("filesystem://") or args.broker.startswith("redis://")):
        parser.error("--broker must be filesystem:// or a redis:// URL")
    return args


# --- The platform's state and processes ---------------------------------------------------


def reset_var_dir(var_dir: Path) -> None:
    """Empty the benchmark's var dir, keeping models/ (the tiny model is slow to build)."""
    var_dir = var_dir.resolve()
    if var_dir in {(REPO / "var").resolve(), REPO.resolve(), Path.home(), Path("/")}:
        raise BenchError(f"Refusing to use {var_dir} as the benchmark's var dir.")
    if var_dir.exists() and any(var_dir.iterdir()) and not (var_dir / MARKER).exists():
        raise BenchError(
            f"{var_dir} exists, is not empty and was not made by this benchmark; "
            "choose another --var-dir or delete it."
        )
    var_dir.mkdir(parents=True, exist_ok=True)
    for child in var_dir.iterdir():
        if child.name in {"models", MARKER}:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    (var_dir / MARKER).write_text("Made by bench/generation_overhead.py; emptied at its start.\n")


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    database = client.connection_pool.connection_kwargs.get("db", 0)
    if int(database) == 0:
        raise BenchError(
            "The Redis database is flushed at start: give a dedicated database number, "
            "e.g. redis://127.0.0.1:6379/15 (db 0 is refused)."
        )
    try:
        client.flushdb()
    except redis.RedisError as error:
        raise BenchError(f"Cannot reach Redis at {url}: {error}") from error
    finally:
        client.close()


def platform_env(args: argparse.Namespace, var_dir: Path, model_path: Path) -> dict[str, str]:
    """The settings of every platform process (and of this one), as environment variables.

    Everything that would otherwise come from a developer's .env or shell and could point at
    their state is set explicitly.
    """
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "imprimatur.settings",
            "IMPRIMATUR_VAR_DIR": str(var_dir),
            "DATABASE_URL": f"sqlite:///{var_dir / 'imprimatur.sqlite3'}",
            "CELERY_BROKER_URL": args.broker,
            "MEDIA_ROOT": str(var_dir / "media"),
            "STATIC_ROOT": str(var_dir / "static"),
            "IMPRIMATUR_MODELS_DIR": str(var_dir / "models"),
            # Before the model catalog, this setting names the one model; with the catalog,
            # the model is registered (see Bench.prepare) and this one is where
            # make_tiny_pipeline writes by default. Both point at the benchmark's model.
            "IMPRIMATUR_TINY_MODEL_PATH": str(model_path),
            "IMPRIMATUR_DEMO_PASSWORD": DEMO_PASSWORD,
            "DEBUG": "1",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "INFO",  # the worker's "received"/"succeeded" lines are read
            "TIME_ZONE": "UTC",  # log timestamps are read as UTC
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in FEATURE_SWITCHES:
        env[name] = "1" if args.checks == "on" else "0"
    return env


def manage(env: dict[str, str], *arguments: str) -> tuple[str, float]:
    """Run one management command; return its output and how long it took."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise BenchError(
            f"manage.py {' '.join(arguments)} failed ({result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    return result.stdout.strip(), time.perf_counter() - started


class Service:
    """A platform process in its own session, logging to a file; stop() ends it and its
    children."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("w")
        self.started_at = time.time()
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(
                f"The {self.name} process exited with {self.process.returncode}. "
                f"Last lines of {self.log_path}:\n{self.tail()}"
            )

    def stop(self, grace: float = 15.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()  # Celery: warm shutdown
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        # Whatever is left of its process group (pool children of a killed worker).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self._log.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Api:
    """A minimal JSON client: one connection per call, no proxies."""

    def __init__(self, port: int):
        self.port = port
        self.token = ""

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw[:500].decode(errors="replace")


def wait_for_web(web: Service, api: Api, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        web.check_alive()
        with contextlib.suppress(OSError):
            api.call("GET", "/api/v1/projects/")  # any answer: Django serves
            return
        time.sleep(0.1)
    raise BenchError(f"The web server did not answer within {timeout} s:\n{web.tail()}")


def wait_for_worker(worker: Service, timeout: float = 300) -> float:
    """Wait for the worker's "ready." line; return when it appeared (time.time())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check_alive()
        if " ready." in worker.output():
            return time.time()
        time.sleep(0.05)
    raise BenchError(f"The worker was not ready within {timeout} s:\n{worker.tail()}")


class CpuMeter:
    """CPU time that processes other than the benchmark's used on this machine (Linux).

    Busy time of all CPUs (/proc/stat) minus the time of this process and of the platform
    processes' groups. More than a few hundredths of a core during a run means someone
    else's work was competing with it, and its time is not to be trusted.
    """

    def __init__(self):
        self.groups: set[int] = set()
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.available = Path("/proc/stat").exists()

    def sample(self) -> tuple[float, float]:
        if not self.available:
            return 0.0, 0.0
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
        busy = user + nice + system + irq + softirq + steal
        ours = 0
        me = os.getpid()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            rest = stat[stat.rindex(")") + 2 :].split()
            group, utime, stime = int(rest[2]), int(rest[11]), int(rest[12])
            if group in self.groups or int(entry.name) == me:
                ours += utime + stime
        return busy / self.ticks, ours / self.ticks

    def others(self, before: tuple[float, float], after: tuple[float, float], wall: float):
        """Cores' worth of CPU that other processes used between two samples."""
        if not self.available or wall <= 0:
            return None
        return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall


# --- Measurements --------------------------------------------------------------------------


@dataclass
class RawRun:
    round: int
    warmup: bool
    seconds: float
    others: float | None = None  # cores used by other processes meanwhile
    discarded: bool = False  # others competed for the CPU: run again


@dataclass
class PlatformRun:
    round: int
    warmup: bool
    request_id: int
    seconds: float  # POST sent .. poll saw "succeeded"
    post_s: float  # the POST's round trip
    # Absolute times (seconds since the epoch) from this process, the database and the log.
    posted_at: float
    seen_at: float
    created_at: float
    job_started_at: float
    job_finished_at: float
    finished_at: float
    received_at: float | None = None  # the worker's main process got the message
    task_runtime_s: float | None = None  # Celery's "succeeded in" for the task
    attempts: int = 1
    others: float | None = None  # cores used by other processes meanwhile
    discarded: bool = False  # others competed for the CPU: run again
    stages: dict[str, float | None] = field(default_factory=dict)

    def compute_stages(self) -> None:
        received = self.received_at
        self.stages = {
            "submit": self.created_at - self.posted_at,
            "to_worker": None if received is None else received - self.created_at,
            "to_task": None if received is None else self.job_started_at - received,
            "queue": self.job_started_at - self.created_at,
            "task": self.job_finished_at - self.job_started_at,
            "close": self.finished_at - self.job_finished_at,
            "seen": self.seen_at - self.finished_at,
        }


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.var_dir = args.var_dir.resolve()
        self.own_model = args.model_path is None
        self.model_path = (
            (self.var_dir / "models" / "tiny-sd") if self.own_model else args.model_path.resolve()
        )
        self.services: list[Service] = []
        self.meter = CpuMeter()
        self.poll_connection: sqlite3.Connection | None = None
        self.setup: dict[str, float] = {}
        self.notes: list[str] = []
        self.catalog = False
        self.raw_runs: list[RawRun] = []
        self.platform_runs: list[PlatformRun] = []
        self.probe_runs: list[dict[str, float]] = []
        self.worker_ready_at = 0.0
        self.model_loaded_at: float | None = None
        self.model_load_logged_s: float | None = None
        self.device = "cpu"

    # -- setup --

    def prepare(self) -> None:
        args = self.args
        if not self.own_model and not (self.model_path / "model_index.json").is_file():
            raise BenchError(f"Not a diffusers pipeline directory: {self.model_path}")
        reset_var_dir(self.var_dir)
        if args.broker.startswith("redis://"):
            flush_redis(args.broker)
        self.env = platform_env(args, self.var_dir, self.model_path)
        # This process reads the same database through the ORM, with the same settings.
        os.environ.update(self.env)
        sys.path.insert(0, str(REPO))
        import django
        from django.core.management import get_commands

        django.setup()
        self.catalog = "model_register" in get_commands()

        say(f"Platform state in {self.var_dir} (broker {args.broker}).")
        _, self.setup["migrate_s"] = manage(self.env, "migrate", "--no-input")
        _, self.setup["seed_demo_s"] = manage(self.env, "seed_demo")
        if self.own_model:
            output, self.setup["make_tiny_pipeline_s"] = manage(
                self.env, "make_tiny_pipeline", "--if-missing", "--path", str(self.model_path)
            )
            say(output.splitlines()[-1] if output else "Tiny pipeline ready.")
        if self.catalog:
            width, height = args.size
            sizes = ",".join(str(size) for size in sorted({width, height}))
            _, self.setup["model_register_s"] = manage(
                self.env,
                "model_register",
                "--organization", DEMO_ORGANIZATION,
                "--name", CATALOG_MODEL_NAME,
                "--path", str(self.model_path),
                "--sizes", sizes,
                "--default-size", str(width),
                "--default-steps", str(args.steps),
                "--max-steps", str(max(args.steps, 50)),
                "--max-images", str(max(args.images, 4)),
                "--projects", DEMO_PROJECT,
            )  # fmt: skip
            self.notes.append(
                f"The platform has a model catalog: the model is registered as "
                f"{CATALOG_MODEL_NAME!r} for {DEMO_PROJECT}."
            )

    def load_raw(self) -> None:
        started = time.perf_counter()
        import torch
        from diffusers import AutoPipelineForText2Image
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
        self.setup["raw_import_s"] = time.perf_counter() - started
        # On a GPU the engine runs in half precision; the raw call does the same there.
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        on_gpu = {"dtype": torch.float16} if self.device == "cuda" else {}
        started = time.perf_counter()
        self.pipeline = AutoPipelineForText2Image.from_pretrained(
            self.model_path,
            local_files_only=True,
            safety_checker=None,
            requires_safety_checker=False,
            **on_gpu,
        )
        self.pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self.setup["raw_load_s"] = time.perf_counter() - started
        self.torch = torch
        self.setup["torch_threads"] = torch.get_num_threads()
        say(
            f"Raw pipeline {type(self.pipeline).__name__} loaded in "
            f"{self.setup['raw_load_s']:.2f} s (imports {self.setup['raw_import_s']:.2f} s)."
        )

    def start_platform(self) -> None:
        python = sys.executable
        logs = self.var_dir / "logs"
        logs.mkdir(exist_ok=True)
        port = free_port()
        if self.args.web == "wsgi":
            web_command = [python, "bench/wsgi_server.py", "--port", str(port)]
        else:
            web_command = [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
        worker_command = [
            python, "-m", "celery", "-A", "imprimatur", "worker",
            "-Q", "gpu,default", "--concurrency", "1",
            "--without-mingle", "--without-gossip", "--loglevel", "INFO",
            "--hostname", f"bench-{os.getpid()}@%h",
        ]  # fmt: skip
        self.worker = Service("worker", worker_command, self.env, logs / "worker.log")
        self.services.append(self.worker)
        self.web = Service("web", web_command, self.env, logs / "web.log")
        self.services.append(self.web)
        self.meter.groups = {self.worker.process.pid, self.web.process.pid}
        self.api = Api(port)
        wait_for_web(self.web, self.api)
        self.setup["web_ready_s"] = time.time() - self.web.started_at
        status, answer = self.api.call(
            "POST", "/api/v1/auth/token/", {"username": DEMO_USER, "password": DEMO_PASSWORD}
        )
        if status != 200:
            raise BenchError(f"No API token ({status}): {answer}")
        self.api.token = answer["token"]
        # Authentication, DRF and the project's views, once before anything is measured.
        status, answer = self.api.call("GET", f"/api/v1/projects/{DEMO_PROJECT}/")
        if status != 200:
            raise BenchError(f"Cannot read project {DEMO_PROJECT} ({status}): {answer}")
        self.worker_ready_at = wait_for_worker(self.worker)
        self.setup["worker_ready_s"] = self.worker_ready_at - self.worker.started_at
        say(
            f"Web server on port {port} ({self.args.web}) and worker ready "
            f"({self.setup['worker_ready_s']:.1f} s after start)."
        )

    def wait_quiet(self, label: str) -> None:
        """Wait (up to --quiet-wait s) until other processes leave the CPU alone."""
        limit = self.args.busy_limit
        waited_from = time.monotonic()
        others = 0.0
        while time.monotonic() - waited_from < self.args.quiet_wait:
            before = self.meter.sample()
            time.sleep(0.5)
            others = self.meter.others(before, self.meter.sample(), 0.5) or 0.0
            if others <= limit:
                break
        else:
            if self.args.quiet_wait > 0:
                say(f"{label}: still busy ({others:.2f} cores) after {self.args.quiet_wait} s")
        waited = time.monotonic() - waited_from
        self.setup["quiet_wait_s"] = self.setup.get("quiet_wait_s", 0.0) + waited
        if waited > 1.5:
            say(f"{label}: waited {waited:.1f} s for other processes to leave the CPU")

    # -- one run of each kind --

    def run_raw(self, round_number: int, warmup: bool, record: bool = True) -> RawRun:
        args = self.args
        width, height = args.size
        torch = self.torch
        started = time.perf_counter()
        generators = [
            torch.Generator(device=self.device).manual_seed(args.seed + index)
            for index in range(args.images)
        ]
        self.pipeline(
            prompt=args.prompt,
            width=width,
            height=height,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            num_images_per_prompt=args.images,
            generator=generators,
            output_type="pil",
        )
        seconds = time.perf_counter() - started
        run = RawRun(round_number, warmup, seconds)
        if record:
            self.raw_runs.append(run)
        return run

    def request_body(self) -> dict[str, Any]:
        args = self.args
        width, height = args.size
        body = {
            "prompt": args.prompt,
            "width": width,
            "height": height,
            "steps": args.steps,
            "guidance_scale": args.guidance,
            "seed": args.seed,
            "num_images": args.images,
        }
        if self.catalog:
            body["model"] = CATALOG_MODEL_NAME
        return body

    def wait_finished(self, request_id: int, deadline: float) -> str:
        from generation.jobs.models import GenerationRequest

        interval = self.args.poll_interval
        if self.args.poll == "db" and self.poll_connection is None:
            # sqlite3 itself, not the ORM: 5 us of CPU per look instead of 200 us, so that
            # looking every 10 ms does not slow the worker down on a small machine.
            self.poll_connection = sqlite3.connect(
                self.var_dir / "imprimatur.sqlite3", isolation_level=None
            )
        query = f"SELECT status FROM {GenerationRequest._meta.db_table} WHERE id = ?"
        while True:
            if self.args.poll == "db":
                row = self.poll_connection.execute(query, (request_id,)).fetchone()
                status = row[0] if row else None
            else:
                code, answer = self.api.call("GET", f"/api/v1/requests/{request_id}/")
                status = answer.get("status") if code == 200 else None
            if status in FINISHED:
                return status
            if time.perf_counter() > deadline:
                raise BenchError(
                    f"Request {request_id} not finished after {self.args.job_timeout} s "
                    f"(status {status}). Worker log:\n{self.worker.tail()}"
                )
            self.worker.check_alive()
            time.sleep(interval)

    def run_platform(self, round_number: int, warmup: bool) -> PlatformRun:
        from generation.jobs.models import GenerationJob, GenerationRequest

        body = self.request_body()
        posted_at = time.time()
        started = time.perf_counter()
        status, answer = self.api.call("POST", f"/api/v1/projects/{DEMO_PROJECT}/requests/", body)
        post_s = time.perf_counter() - started
        if status != 201:
            raise BenchError(f"The platform refused the request ({status}): {answer}")
        request_id = answer["id"]
        final = self.wait_finished(request_id, started + self.args.job_timeout)
        seconds = time.perf_counter() - started
        seen_at = time.time()
        request = GenerationRequest.objects.get(pk=request_id)
        job = GenerationJob.objects.filter(request_id=request_id).order_by("-pk").first()
        if final != "succeeded":
            raise BenchError(
                f"Request {request_id} ended {final}: {request.error}\n"
                f"Worker log:\n{self.worker.tail()}"
            )
        run = PlatformRun(
            round=round_number,
            warmup=warmup,
            request_id=request_id,
            seconds=seconds,
            post_s=post_s,
            posted_at=posted_at,
            seen_at=seen_at,
            created_at=request.created_at.timestamp(),
            job_started_at=job.started_at.timestamp(),
            job_finished_at=job.finished_at.timestamp(),
            finished_at=request.finished_at.timestamp(),
            attempts=job.attempts,
        )
        run.compute_stages()
        self.platform_runs.append(run)
        self.last_job_id = job.pk
        return run

    def read_worker_log(self) -> None:
        """Match the worker's "received" and "succeeded in" lines to the runs, in order."""
        time.sleep(0.3)  # the last "succeeded" line is written just after the row
        pattern = re.compile(
            r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?Task "
            + re.escape(TASK_NAME)
            + r"\[(?P<id>[0-9a-f-]+)\] (?:(?P<received>received)|succeeded in (?P<runtime>\S+)s)",
            re.MULTILINE,
        )
        output = self.worker.output()
        # The engine logs its loads (where it does): when the pool child's warm-up ended.
        loaded = re.search(
            r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO generation\.engine\.\S+: "
            r"Loaded .* in (?P<seconds>[0-9.]+) s",
            output,
            re.MULTILINE,
        )
        if loaded:
            self.model_loaded_at = log_time(loaded.group("at"))
            self.model_load_logged_s = float(loaded.group("seconds"))
        received: dict[str, float] = {}
        runtimes: dict[str, float] = {}
        for match in pattern.finditer(output):
            if match.group("received"):
                received[match.group("id")] = log_time(match.group("at"))
            else:
                runtimes[match.group("id")] = float(match.group("runtime"))
        if len(received) != len(self.platform_runs):
            self.notes.append(
                f"The worker log has {len(received)} 'received' lines for "
                f"{len(self.platform_runs)} jobs: broker and hand-off stages not split."
            )
            return
        for run, task_id in zip(self.platform_runs, received, strict=True):
            run.received_at = received[task_id]
            run.task_runtime_s = runtimes.get(task_id)
            run.compute_stages()

    # -- what the task does besides generating: the task run here, its parts timed --

    def probe_task(self) -> None:
        """Run the Celery task in this process on fresh requests, timing its parts.

        The worker is stopped first, so the requests submitted here (through the API, as in
        the rounds) stay in the broker while this process runs their jobs by calling the task
        directly. The platform's functions are wrapped with timers in this process only.
        Each job follows a raw call, as in the rounds. The first run loads the engine's copy
        of the model (the worker's is gone with it, so memory holds two copies, as before)
        and is not counted.
        """
        count = self.args.probe_jobs
        if not count:
            return
        self.worker.stop()
        self.services.remove(self.worker)
        try:
            from generation.jobs import events, transitions, worker
            from generation.jobs.tasks import run_generation_job
        except ImportError as error:
            self.notes.append(f"In-process task probe skipped: {error}")
            return
        timers = Timers()
        pipelines = importlib.import_module("generation.engine.pipelines")
        for where, attribute, label, _ in PROBED:
            if where == "JobProgress":
                owners = [getattr(worker, "JobProgress", None)]
            elif where == "pipelines":
                # Imported into the worker module at call time, or once at import: wrap both.
                owners = [pipelines, worker]
            elif where == "events":
                owners = [events]
            else:
                # The worker calls the transitions by the names it imported; the end of a
                # job calls them through the transitions module.
                owners = [worker, transitions]
            wrapped = [timers.wrap(owner, attribute, label) for owner in owners if owner]
            if not any(wrapped):
                self.notes.append(f"In-process probe: {where}.{attribute} not found, not timed.")
        from generation.jobs.models import GenerationJob, GenerationRequest

        attempts = 0
        try:
            while len(self.probe_runs) < count and attempts < 3 * count + 1:
                status, answer = self.api.call(
                    "POST", f"/api/v1/projects/{DEMO_PROJECT}/requests/", self.request_body()
                )
                if status != 201:
                    raise BenchError(f"The platform refused the request ({status}): {answer}")
                job = GenerationJob.objects.filter(request_id=answer["id"]).first()
                self.wait_quiet("in-process task")
                before = self.meter.sample()
                raw = self.run_raw(0, warmup=True, record=False).seconds  # for comparison
                timers.reset()
                started = time.perf_counter()
                run_generation_job(job.pk)
                seconds = time.perf_counter() - started
                others = self.meter.others(before, self.meter.sample(), raw + seconds) or 0.0
                request = GenerationRequest.objects.get(pk=answer["id"])
                if request.status != "succeeded":
                    raise BenchError(
                        f"In-process job {job.pk} ended {request.status}: {request.error}"
                    )
                attempts += 1
                if attempts == 1:
                    outcome = "warm-up (loads the engine's copy of the model)"
                elif others > self.args.busy_limit:
                    outcome = f"disturbed (others {others:.2f} cores), run again"
                else:
                    outcome = f"others {others:.2f} cores"
                    self.probe_runs.append({"task_s": seconds, "raw_s": raw, **timers.snapshot()})
                say(f"in-process task: {seconds:.3f} s, raw {raw:.3f} s; {outcome}")
        finally:
            timers.restore()

    # -- the whole thing --

    def run(self) -> None:
        args = self.args
        started = time.perf_counter()
        self.prepare()
        self.load_raw()
        self.wait_quiet("start")
        self.start_platform()
        measured = redone = 0
        while measured < args.rounds:
            pairs = len(self.platform_runs)
            warmup = pairs < args.warmup
            number = 0 if warmup else measured + 1
            label = f"warm-up {pairs + 1}/{args.warmup}" if warmup else f"round {number}"
            # The first job on the fresh worker goes first, as soon as it said "ready".
            order = ("platform", "raw") if pairs == 0 else ("raw", "platform")
            if pairs:
                self.wait_quiet(label)
            for kind in order:
                before = self.meter.sample()
                if kind == "raw":
                    raw = self.run_raw(number, warmup)
                    raw.others = self.meter.others(before, self.meter.sample(), raw.seconds)
                else:
                    platform = self.run_platform(number, warmup)
                    platform.others = self.meter.others(
                        before, self.meter.sample(), platform.seconds
                    )
            stages = platform.stages
            others = busiest(raw, platform) or 0.0
            say(
                f"{label}: raw {raw.seconds:.3f} s, platform {platform.seconds:.3f} s "
                f"(post {platform.post_s:.3f}, queue {stages['queue']:.3f}, "
                f"task {stages['task']:.3f}, seen {stages['seen']:.3f}; "
                f"others {others:.2f} cores)"
            )
            if warmup:
                continue
            if others > args.busy_limit and redone < args.max_redos:
                raw.discarded = platform.discarded = True
                redone += 1
                say(f"round {number}: other processes used {others:.2f} cores; running it again")
                continue
            measured += 1
        self.read_worker_log()
        self.probe_task()
        self.setup["total_s"] = time.perf_counter() - started

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        if self.poll_connection is not None:
            self.poll_connection.close()
            self.poll_connection = None


# --- Report --------------------------------------------------------------------------------


def log_time(text: str) -> float:
    """A log line's timestamp (the platform logs in TIME_ZONE, set to UTC here)."""
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")
    return moment.replace(tzinfo=UTC).timestamp()


def median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def fmt(value: float | None, width: int = 7, digits: int = 3) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'n/a':>{width}}"


def busiest(raw: RawRun, platform: PlatformRun) -> float | None:
    values = [value for value in (raw.others, platform.others) if value is not None]
    return max(values) if values else None


def git_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return (commit or "unknown") + (" (with uncommitted changes)" if dirty else "")


STAGES = [
    ("submit", "POST sent -> request row created", "HTTP, token auth, validation (web)"),
    ("to_worker", "row created -> worker received", "commit, publish, broker delivery"),
    ("to_task", "worker received -> job started", "hand-off to the pool child, start txn"),
    ("task", "job started -> job finished", "in the task: generation and storing"),
    ("close", "job finished -> request finished", "the request's transition"),
    ("seen", "request finished -> poll saw it", "commit, poll interval"),
]


def report(bench: Bench) -> dict[str, Any]:
    args = bench.args
    raw = [run for run in bench.raw_runs if not run.warmup and not run.discarded]
    platform = [run for run in bench.platform_runs if not run.warmup and not run.discarded]
    raw_median = statistics.median(run.seconds for run in raw)
    platform_median = statistics.median(run.seconds for run in platform)
    width, height = args.size
    out: list[str] = []
    out.append("Imprimatur generation overhead: platform vs raw diffusers")
    out.append(
        f"  code {git_version()}; python {sys.version.split()[0]}; "
        f"{os.cpu_count()} CPUs; torch threads {bench.setup.get('torch_threads')}; "
        f"device {bench.device}"
    )
    out.append(
        f"  model {bench.model_path}; {width}x{height}, {args.steps} steps, "
        f"{args.images} image(s), guidance {args.guidance}, seed {args.seed}"
    )
    out.append(
        f"  broker {args.broker}; web {args.web}; poll {args.poll} every "
        f"{args.poll_interval * 1000:g} ms; checks {args.checks}; "
        f"{args.warmup} warm-up + {args.rounds} rounds"
    )
    setup = ", ".join(
        f"{name[:-2]} {value:.1f} s" for name, value in bench.setup.items() if name.endswith("_s")
    )
    out.append(f"  setup: {setup}")
    for note in bench.notes:
        out.append(f"  note: {note}")

    out.append("")
    out.append(
        "round   raw_s  platform_s  post_s  submit  to_worker  to_task   queue    task"
        "   close    seen  celery_task  others"
    )
    pairs = list(zip(bench.raw_runs, bench.platform_runs, strict=True))
    for raw_run, run in pairs:
        stages = run.stages
        label = "w" if run.warmup else f"{run.round}{'x' if run.discarded else ''}"
        out.append(
            f"{label:>5} {fmt(raw_run.seconds)} {fmt(run.seconds, 11)} {fmt(run.post_s)} "
            f"{fmt(stages['submit'])} {fmt(stages['to_worker'], 10)} {fmt(stages['to_task'], 8)} "
            f"{fmt(stages['queue'])} {fmt(stages['task'])} {fmt(stages['close'])} "
            f"{fmt(stages['seen'])} {fmt(run.task_runtime_s, 12)} "
            f"{fmt(busiest(raw_run, run), 7, 2)}"
        )
    stage_medians = {name: median([run.stages[name] for run in platform]) for name, *_ in STAGES}
    post_median = median([run.post_s for run in platform])
    runtime_median = median([run.task_runtime_s for run in platform])
    out.append(
        f"  med {fmt(raw_median)} {fmt(platform_median, 11)} {fmt(post_median)} "
        f"{fmt(stage_medians['submit'])} {fmt(stage_medians['to_worker'], 10)} "
        f"{fmt(stage_medians['to_task'], 8)} "
        f"{fmt(median([run.stages['queue'] for run in platform]))} "
        f"{fmt(stage_medians['task'])} {fmt(stage_medians['close'])} "
        f"{fmt(stage_medians['seen'])} {fmt(runtime_median, 12)}"
    )
    out.append(
        "  (Seconds; w = warm-up, not in the medians. Stages come from this process's clock, "
        "the database's timestamps and the worker log's (ms resolution). others = cores used "
        "by other processes during the round's raw and platform runs.)"
    )
    discarded = sum(run.discarded for run in bench.platform_runs)
    if discarded:
        out.append(
            f"  {discarded} round(s) marked x were disturbed (others > {args.busy_limit} cores), "
            "left out and run again."
        )
    disturbed = [
        f"{run.round} ({busiest(raw_run, run):.2f})"
        for raw_run, run in pairs
        if not run.warmup and not run.discarded and (busiest(raw_run, run) or 0) > args.busy_limit
    ]
    if disturbed:
        out.append(
            "  WARNING: other processes competed for the CPU in kept rounds "
            + ", ".join(disturbed)
            + " (--max-redos ran out): their times are inflated; rerun on a quieter machine."
        )

    overhead = platform_median - raw_median
    out.append("")
    out.append(
        f"Where the platform's time goes (medians of {len(platform)} rounds; the stage medians "
        f"need not add up exactly to the total):"
    )
    for name, what, why in STAGES:
        out.append(f"  {what:<34} {fmt(stage_medians[name])} s   {why}")
    out.append(f"  {'total':<34} {fmt(platform_median)} s")
    out.append(f"  {'raw diffusers call':<34} {fmt(raw_median)} s")
    out.append(f"  {'overhead (platform - raw)':<34} {fmt(overhead)} s")
    task_median = stage_medians["task"]
    in_task = task_median - raw_median if task_median is not None else None
    outside = overhead - in_task if in_task is not None else None
    out.append(f"    outside the task (HTTP, queue, polling)  {fmt(outside)} s")
    out.append(f"    inside the task, beyond generating       {fmt(in_task)} s")
    kept = [
        (raw_run, run)
        for raw_run, run in pairs
        if not run.warmup and not run.discarded and run.stages["task"] is not None
    ]
    out.append(
        "  Paired by round (medians of per-round differences, steadier on a noisy machine): "
        f"platform - raw {statistics.median(r.seconds - w.seconds for w, r in kept):.3f} s, "
        f"task - raw {statistics.median(r.stages['task'] - w.seconds for w, r in kept):.3f} s, "
        f"platform / raw {statistics.median(r.seconds / w.seconds for w, r in kept):.3f}"
    )
    out.extend(probe_lines(bench, task_median))
    if args.broker.startswith("filesystem://"):
        out.append(
            "  The filesystem broker looks at its folder every 0.2 s: a job waits 0.1 s on "
            "average (up to 0.2 s) before the worker sees it."
        )

    out.append("")
    out.extend(first_job_lines(bench, platform, raw_median))

    summary = {
        "raw_s": round(raw_median, 3),
        "platform_s": round(platform_median, 3),
        "overhead_ratio": round(platform_median / raw_median, 3),
    }
    out.append("")
    out.append(
        f"raw_s={raw_median:.3f} platform_s={platform_median:.3f} "
        f"overhead_ratio={platform_median / raw_median:.3f}"
    )
    print("\n".join(out), flush=True)
    return {
        "summary": summary,
        "stage_medians_s": stage_medians,
        "post_median_s": post_median,
        "celery_runtime_median_s": runtime_median,
    }


def probe_lines(bench: Bench, worker_task: float | None) -> list[str]:
    """The in-process runs of the task, split into its parts."""
    runs = bench.probe_runs
    if not runs:
        return []
    task = statistics.median(run["task_s"] for run in runs)
    lines = [
        f"  The task run in this process ({len(runs)} jobs, no worker, no poller; medians):",
        f"    {'whole task':<54} {task * 1000:8.1f} ms"
        + (f"   (in the worker: {worker_task * 1000:.1f} ms)" if worker_task else ""),
    ]
    counted = 0.0
    for _, _, label, nested in PROBED:
        values = [run["seconds"].get(label) for run in runs]
        if all(value is None for value in values):
            continue
        part = median(values) or 0.0
        calls = median([run["calls"].get(label) for run in runs]) or 0
        if not nested:
            counted += part
        indent = "      " if nested else "    "
        lines.append(
            f"{indent}{label:<{54 - len(indent) + 4}} {part * 1000:8.1f} ms   "
            f"({calls:g} calls per job)"
        )
    lines.append(
        f"    {'everything else (locks, commits, imports, Celery call)':<54} "
        f"{(task - counted) * 1000:8.1f} ms"
    )
    generate = median([run["seconds"].get(PROBED[0][2]) for run in runs])
    raw = statistics.median(run["raw_s"] for run in runs)
    if generate is not None:
        lines.append(
            f"    engine generate() {generate * 1000:.1f} ms vs raw diffusers call "
            f"{raw * 1000:.1f} ms (interleaved with it): {(generate - raw) * 1000:+.1f} ms"
        )
    return lines


def first_job_lines(bench: Bench, platform: list[PlatformRun], raw_median: float) -> list[str]:
    """Did the first job on the fresh worker pay for loading the model?"""
    first = bench.platform_runs[0]
    later = platform[1:] if not first.warmup else platform
    if not later:
        return ["First job: no later jobs to compare it with (use --rounds 2 or more)."]
    first_raw = bench.raw_runs[0].seconds
    load_s = bench.setup["raw_load_s"]

    def later_median(name: str) -> float | None:
        return median([run.stages[name] for run in later])

    after_ready = first.posted_at - bench.worker_ready_at
    lines = [
        f"First platform job on the fresh worker (POST {after_ready:.2f} s after the worker "
        "logged 'ready'), against the median of later jobs:",
        f"  total {first.seconds:.3f} s vs {median([run.seconds for run in later]):.3f} s; "
        f"POST {first.post_s:.3f} vs {median([run.post_s for run in later]):.3f}",
    ]
    for name, what, _ in STAGES:
        lines.append(f"  {what:<34} {fmt(first.stages[name])} vs {fmt(later_median(name))} s")
    lines.append(
        f"  worker process started -> first job started: "
        f"{first.job_started_at - bench.worker.started_at:.3f} s (its pool child imports torch "
        "and loads the model at start, before it takes a job)"
    )
    if bench.model_loaded_at is not None:
        lines.append(
            f"  the worker's log: the pool child loaded the model "
            f"{bench.model_loaded_at - bench.worker_ready_at:.3f} s after 'ready' (the load "
            f"itself took {bench.model_load_logged_s:.1f} s, the rest is importing torch and "
            "diffusers)"
        )
    lines.append(
        f"  for scale: loading the model in this process took {load_s:.3f} s (after "
        f"{bench.setup['raw_import_s']:.2f} s of imports); the first raw call took "
        f"{first_raw:.3f} s vs {raw_median:.3f} s later"
    )
    # Against the raw call next to it, so that a busy machine does not look like a model load.
    later_pairs = [
        (raw_run, run)
        for raw_run, run in zip(bench.raw_runs, bench.platform_runs, strict=True)
        if any(run is other for other in later)
    ]
    usual_gap = statistics.median(
        run.stages["task"] - raw_run.seconds for raw_run, run in later_pairs
    )
    extra_task = (first.stages["task"] - first_raw) - usual_gap
    extra_wait = first.stages["queue"] - (later_median("queue") or 0)
    threshold = max(0.5 * load_s, 0.05)
    first_others = busiest(bench.raw_runs[0], first) or 0.0
    lines.append(f"  other processes meanwhile: {first_others:.2f} cores")
    if first_others > bench.args.busy_limit:
        verdict = (
            f"cannot tell: other processes used {first_others:.2f} cores while the first job "
            "and the raw call next to it ran; rerun on a quieter machine"
        )
    elif extra_task >= threshold:
        verdict = (
            f"the first job's task took {extra_task:.3f} s longer (against the raw call next "
            "to it) than later ones, the size of a model load: the model was NOT warm"
        )
    elif extra_wait >= max(threshold, 0.25):
        verdict = (
            f"no model load inside the first job's task ({extra_task:+.3f} s against later "
            f"ones, measured against the raw call next to it), but it waited {extra_wait:.3f} s "
            "longer before it started: the worker logs 'ready' before its pool child has "
            "finished importing torch and loading the model, and the job waits for that"
        )
    else:
        verdict = (
            f"no model load in the first job (its task took {extra_task:+.3f} s against later "
            f"ones, measured against the raw call next to it; a model load here takes "
            f"{load_s:.3f} s): the warm-up at process start works"
        )
    lines.append(f"  => {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    bench = Bench(args)
    try:
        bench.run()
    except KeyboardInterrupt:
        say("Interrupted; stopping the platform's processes.")
        bench.stop()
        return 130
    except BenchError as error:
        bench.stop()
        say(f"Failed: {error}")
        return 1
    except BaseException:
        bench.stop()
        raise
    bench.stop()
    say(f"Logs of the web server and the worker: {bench.var_dir / 'logs'}")
    numbers = report(bench)
    if args.json:
        payload = {
            "args": {key: str(value) for key, value in vars(args).items()},
            "code": git_version(),
            "setup": bench.setup,
            "notes": bench.notes,
            "raw_runs": [asdict(run) for run in bench.raw_runs],
            "platform_runs": [asdict(run) for run in bench.platform_runs],
            "probe_runs": bench.probe_runs,
            **numbers,
        }
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
