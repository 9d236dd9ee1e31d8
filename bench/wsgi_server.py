"""Serve the platform over HTTP for the benchmark: a threaded WSGI server, no autoreload.

It is the server class behind ``manage.py runserver`` (Django's ``basehttp``, threaded),
without the autoreloader, the system checks, the static-files handler and the per-request
log lines, and with the URLconf imported before the first request, so that no measured
request pays for importing views.

Settings come from the environment, as for every platform process.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    # This checkout's code, not whatever an editable install points at.
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imprimatur.settings")
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application
    from django.urls import get_resolver

    application = get_wsgi_application()
    get_resolver().url_patterns  # noqa: B018 - imports every view now
    logging.getLogger("django.server").setLevel(logging.WARNING)
    print(f"Serving on http://{args.host}:{args.port}/", flush=True)
    run(args.host, args.port, application, threading=True)


if __name__ == "__main__":
    main()
