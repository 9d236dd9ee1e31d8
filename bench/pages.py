"""Pages with many images: the project gallery, the review queue and the dashboard with
100,000 assets in the database, rendered server-side.

Use a scratch database: ``DATABASE_URL=postgres://…/imprimatur_bench python bench/pages.py``
(SQLite works too, slower to build). The first run migrates it and builds one organisation
with a project, four members and ``--assets`` (100,000) assets: ``--per-request`` (4) per
request, one job each, spread over the last 90 days, a quarter of them still waiting for
image review (an open review with one reviewers' task each), a few quarantined. Rows are
written with ``bulk_create`` (no files: the pages render links to thumbnails, they do not
read images). A later run finds the data and reuses it (``--rebuild`` starts again).

Then it renders, through Django's test client signed in as the project's reviewer (the
admin for the dashboard: all of its images), each page ``--rounds`` (15) times, the pages
taking turns so that the machine's noise falls on all of them alike, after one warm-up
round: the project page with its gallery (first page, 24 thumbnails), the review queue (up
to 200 tasks with their previews), the dashboard (12 recent images). It prints each page's
median, fastest and slowest in milliseconds, and the queries each made; also a deep gallery
page (the cursor of the 50,000th image) and a filtered one, for information.

The last line is always ``gallery_ms=<median> queue_ms=<median> dashboard_ms=<median>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imprimatur.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from generation.jobs.gallery import cursor_of  # noqa: E402
from generation.jobs.models import (  # noqa: E402
    Asset,
    GenerationJob,
    GenerationRequest,
    ModelProfile,
)
from governance.reviews.models import Review, ReviewTask  # noqa: E402
from governance.reviews.services import workflow_update  # noqa: E402
from imprimatur.tenancy.models import BrandProject, Membership, Organization  # noqa: E402

SLUG = "bench-pages"
ROLES = ("creator", "reviewer", "compliance", "admin")


def build(total: int, per_request: int, batch: int = 5000) -> None:
    """One organisation, its project and members, and ``total`` assets in bulk."""
    started = time.perf_counter()
    organization = Organization.objects.create(name="Bench Pages", slug=SLUG)
    project = BrandProject.objects.create(organization=organization, name="Bench", slug=SLUG)
    users = {}
    for role in ROLES:
        user = get_user_model().objects.create_user(f"{SLUG}-{role}", password="x")
        Membership.objects.create(user=user, organization=organization, role=role)
        users[role] = user
    model = ModelProfile.objects.create(
        organization=organization, name="tiny-sd", display_name="Tiny SD", path="/nonexistent"
    )
    model.projects.add(project)
    workflow = workflow_update(
        project=project,
        user=users["admin"],
        stages=[{"name": "Look", "role": "reviewer", "approvals": 1, "kinds": ["asset"]}],
    )
    asset_type = ContentType.objects.get_for_model(Asset)
    creators = [users["creator"], users["admin"]]
    now = timezone.now()
    span = timedelta(days=90) / total
    # created_at is auto_now_add: bulk_create would stamp every row "now". The benchmark
    # spreads them over 90 days instead, as a real project's would be.
    auto = [
        (model_class._meta.get_field("created_at"))
        for model_class in (GenerationRequest, GenerationJob, Asset, Review, ReviewTask)
    ]
    for field in auto:
        field.auto_now_add = False
    try:
        requests_total = total // per_request
        done = 0
        while done < requests_total:
            count = min(batch // per_request, requests_total - done)
            with transaction.atomic():
                requests = GenerationRequest.objects.bulk_create(
                    [
                        GenerationRequest(
                            project=project,
                            created_by=creators[(done + i) % 2],
                            prompt=f"a lighthouse at dusk, variation {done + i}",
                            model_profile=model,
                            model_name=model.name,
                            width=64,
                            height=64,
                            steps=20,
                            guidance_scale=7.5,
                            seed=done + i,
                            num_images=per_request,
                            status=GenerationRequest.Status.SUCCEEDED,
                            created_at=now - span * per_request * (requests_total - done - i),
                        )
                        for i in range(count)
                    ]
                )
                jobs = GenerationJob.objects.bulk_create(
                    [
                        GenerationJob(
                            request=request,
                            status=GenerationJob.Status.SUCCEEDED,
                            created_at=request.created_at,
                        )
                        for request in requests
                    ]
                )
                assets = []
                for request, job in zip(requests, jobs, strict=True):
                    for index in range(per_request):
                        number = len(assets) + done * per_request
                        waiting = number % 4 == 0
                        assets.append(
                            Asset(
                                request=request,
                                job=job,
                                index=index,
                                seed=request.seed + index,
                                image=f"assets/bench/{request.pk}-{index}.png",
                                thumbnail=f"assets/bench/{request.pk}-{index}-thumb.webp",
                                width=64,
                                height=64,
                                sha256="0" * 64,
                                status=(
                                    Asset.Status.GENERATED
                                    if waiting
                                    else [Asset.Status.APPROVED, Asset.Status.REJECTED][number % 2]
                                ),
                                quarantined=number % 97 == 0,
                                created_at=request.created_at + timedelta(microseconds=index),
                            )
                        )
                assets = Asset.objects.bulk_create(assets)
                waiting = [
                    asset
                    for asset in assets
                    if asset.status == Asset.Status.GENERATED and not asset.quarantined
                ]
                reviews = Review.objects.bulk_create(
                    [
                        Review(
                            kind="asset",
                            content_type=asset_type,
                            object_id=asset.pk,
                            organization=organization,
                            project=project,
                            workflow=workflow,
                            stages=workflow.stages,
                            title=f"image {asset.index + 1} of request #{asset.request_id}",
                            requested_by=asset.request.created_by,
                            created_at=asset.created_at,
                        )
                        for asset in waiting
                    ]
                )
                ReviewTask.objects.bulk_create(
                    [
                        ReviewTask(
                            review=review,
                            stage_index=0,
                            name="Look",
                            role="reviewer",
                            due_at=review.created_at + timedelta(days=2),
                            created_at=review.created_at,
                        )
                        for review in reviews
                    ]
                )
            done += count
            print(f"  built {done * per_request:,} assets", file=sys.stderr, flush=True)
    finally:
        for field in auto:
            field.auto_now_add = True
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planners' statistics, as a live database has them
    print(f"built in {time.perf_counter() - started:.1f} s", flush=True)


def timed(client: Client, url: str) -> tuple[float, float, int]:
    """Wall-clock and this process's CPU milliseconds of one request, and its queries."""
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.process_time()
        response = client.get(url, HTTP_HOST=settings.ALLOWED_HOSTS[0])
        elapsed = (time.perf_counter() - started) * 1000
        cpu = (time.process_time() - cpu) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    return elapsed, cpu, len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=100_000, help="Assets to build (100,000).")
    parser.add_argument("--per-request", type=int, default=4, help="Assets per request (4).")
    parser.add_argument("--rounds", type=int, default=15, help="Timed rounds per page (15).")
    parser.add_argument("--rebuild", action="store_true", help="Delete the data and build again.")
    args = parser.parse_args()

    print(f"database: {connection.vendor}", flush=True)
    call_command("migrate", verbosity=0)
    existing = Organization.objects.filter(slug=SLUG).first()
    if existing is not None and args.rebuild:
        raise SystemExit("--rebuild: drop and create the scratch database instead (PROTECT).")
    if existing is None:
        build(args.assets, args.per_request)
    project = BrandProject.objects.get(slug=SLUG)
    count = Asset.objects.filter(request__project=project).count()
    print(f"assets: {count:,} (in the whole database: {Asset.objects.count():,})", flush=True)

    reviewer = get_user_model().objects.get(username=f"{SLUG}-reviewer")
    admin = get_user_model().objects.get(username=f"{SLUG}-admin")
    as_reviewer, as_admin = Client(), Client()
    as_reviewer.force_login(reviewer)
    as_admin.force_login(admin)
    middle = Asset.objects.filter(request__project=project).order_by("-created_at", "-pk")[
        count // 2
    ]
    base = f"/projects/{SLUG}/?organization={SLUG}"
    pages = {
        "gallery": (as_reviewer, base),
        "queue": (as_reviewer, "/reviews/"),
        "dashboard": (as_admin, "/"),
        "gallery_deep": (as_reviewer, f"{base}&after={cursor_of(middle)}"),
        "gallery_filtered": (as_reviewer, f"{base}&status=changes&creator={admin.pk}"),
        # The machine's noise floor: a small page of the same shell with no images.
        "baseline_profile": (as_reviewer, "/settings/"),
    }
    times: dict[str, list[float]] = {name: [] for name in pages}
    cpu: dict[str, list[float]] = {name: [] for name in pages}
    queries: dict[str, int] = {}
    for round_ in range(args.rounds + 1):
        for name, (client, url) in pages.items():
            elapsed, used, made = timed(client, url)
            queries[name] = made
            if round_:  # the first round warms caches and connections
                times[name].append(elapsed)
                cpu[name].append(used)
    print(f"{'page':17s} {'median':>7s} {'min':>7s} {'max':>7s}  (ms, wall)  cpu ms  queries")
    for name, values in times.items():
        print(
            f"{name:17s} {statistics.median(values):7.1f} {min(values):7.1f} "
            f"{max(values):7.1f}  {'':10s}  {statistics.median(cpu[name]):6.1f}  "
            f"{queries[name]}",
            flush=True,
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) {load:.1f} on {os.cpu_count()} CPUs", flush=True)
    print(
        f"gallery_ms={statistics.median(times['gallery']):.1f} "
        f"queue_ms={statistics.median(times['queue']):.1f} "
        f"dashboard_ms={statistics.median(times['dashboard']):.1f}"
    )


if __name__ == "__main__":
    main()
