"""Is this host's Celery worker up and answering? The worker's liveness/readiness probe."""

import socket
import sys

from celery.utils.nodenames import host_format
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Ping this host's Celery worker(s) through the broker: exit 0 when one answers, 1 with "
        "the reason otherwise. Use it as the worker container's exec probe. With --hostname "
        "(as given to `celery worker --hostname`, %h allowed) that worker only; without it, "
        "any worker whose name ends in @<this host>."
    )

    def add_arguments(self, parser):
        parser.add_argument("--hostname", default="", help="The worker's node name, e.g. gpu@%%h.")
        parser.add_argument(
            "--timeout", type=float, default=2.0, help="Seconds to wait for an answer (2)."
        )

    def handle(self, *args, hostname: str, timeout: float, **options):
        from imprimatur.celery import app

        if timeout <= 0:
            raise CommandError("--timeout must be more than 0 seconds.")
        host = socket.gethostname()
        wanted = host_format(hostname) if hostname else ""
        try:
            with app.connection_for_write() as connection:
                # One try to reach the broker, so a broker that is down fails fast.
                connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
                if wanted:
                    replies = app.control.ping(
                        destination=[wanted], timeout=timeout, limit=1, connection=connection
                    )
                else:
                    replies = app.control.ping(timeout=timeout, connection=connection)
        except Exception as error:  # the broker is down or refuses us
            self._fail(f"the broker could not be asked ({type(error).__name__}: {error})")
        names = [name for reply in replies or [] for name in reply]
        if wanted:
            answered = [name for name in names if name == wanted]
            target = f"worker {wanted}"
        else:
            answered = [name for name in names if name.endswith(f"@{host}")]
            target = f"a worker of host {host}"
        if not answered:
            others = f" (answered: {', '.join(sorted(names))})" if names else ""
            self._fail(f"{target} did not answer within {timeout:g} s{others}")
        self.stdout.write(f"ready: {', '.join(sorted(answered))}")

    def _fail(self, reason: str) -> None:
        self.stderr.write(f"not ready: {reason}")
        sys.exit(1)
