"""gunicorn's configuration: ``gunicorn -c python:imprimatur.gunicorn imprimatur.wsgi``.

Environment: ``PORT`` (default 8000), ``WEB_CONCURRENCY`` worker processes (default 2),
``GUNICORN_THREADS`` threads per worker (default 4), ``GUNICORN_TIMEOUT`` seconds a request
may take before its worker is restarted (default 60). Static files are served by WhiteNoise
from ``STATIC_ROOT`` (run ``manage.py collectstatic --no-input`` first).

Metrics: every worker writes to ``PROMETHEUS_MULTIPROC_DIR`` (the settings' default unless
set); the master tidies it when it starts and marks a worker's files dead when it exits.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imprimatur.settings")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}.") from None


bind = f"0.0.0.0:{_int('PORT', 8000)}"
workers = _int("WEB_CONCURRENCY", 2)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
# A request longer than this restarts its worker: above the slowest page (audit reports).
timeout = _int("GUNICORN_TIMEOUT", 60)
# On SIGTERM, requests in flight get this long to finish (below Kubernetes' default 30 s).
graceful_timeout = 25
keepalive = 5
# Behind a load balancer or ingress: trust its X-Forwarded-* (settings read X-Forwarded-Proto).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# No control socket (gunicorn 25.1+): nothing here uses `gunicornc`, its default path in $HOME
# would be shared by every server of one user, and a read-only container root has no $HOME.
control_socket_disable = True
# Workers' heartbeat files in memory: a slow container disk must not look like a hung worker.
# bandit B108: gunicorn's documented heartbeat folder, shared memory, not a file in /tmp.
if os.path.isdir("/dev/shm"):  # nosec B108
    worker_tmp_dir = "/dev/shm"  # nosec B108


def on_starting(server) -> None:
    """In the master, before any worker: settings fix the metrics folder (children inherit
    it), and files of processes of an earlier run are removed."""
    from django.conf import settings

    settings.PROMETHEUS_MULTIPROC_DIR  # noqa: B018  (loads the settings: sets the folder)
    import imprimatur.metrics as metrics

    removed = metrics.multiprocess_dir_tidy()
    server.log.info(
        "Metrics folder %s (%d stale file(s) removed).", metrics.multiprocess_dir(), len(removed)
    )


def child_exit(server, worker) -> None:
    """A worker exited: its live gauges stop counting (prometheus_client multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
