"""Start the web server and one Celery worker together; Ctrl-C stops both."""

import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the whole platform on this machine: Django's development server and one Celery "
        "worker (with Celery beat inside) consuming the gpu and default queues. Ctrl-C (or "
        "SIGTERM) stops both; if either exits, the other is stopped too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Web server address.")
        parser.add_argument(
            "--concurrency", type=int, default=1, help="Worker processes (default 1)."
        )

    def handle(self, *args, addr: str, concurrency: int, **options):
        python = sys.executable
        commands = {
            "worker": [
                python, "-m", "celery", "-A", "imprimatur", "worker",
                "-Q", "gpu,default", "--concurrency", str(concurrency),
                "--without-mingle", "--without-gossip", "--loglevel", "INFO",
                # Beat inside the one worker: periodic upkeep such as recovering stale jobs.
                "--beat", "--hostname", "embedded@%h",
            ],
            "web": [python, "manage.py", "runserver", addr, "--noreload"],
        }  # fmt: skip
        # bandit: a fixed command line of this project, no shell, no user input.
        processes = {name: subprocess.Popen(command) for name, command in commands.items()}  # nosec B603
        self.stdout.write(self.style.SUCCESS(f"Imprimatur is running on http://{addr}/"))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"The {name} process exited with {process.returncode}.")
                    exit_code = process.returncode or 1
                    stopping = True
            time.sleep(0.5)
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.stdout.write("Imprimatur stopped.")
        sys.exit(exit_code)
