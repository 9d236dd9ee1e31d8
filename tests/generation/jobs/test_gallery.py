"""Galleries: thumbnails made once and served by the image's rules, the project gallery's
filters and keyset pages, recent images on the dashboard, previews in the review queue and
bulk approval of only what the queue showed."""

import io
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from generation.jobs.gallery import cursor_of, cursor_parse
from generation.jobs.models import Asset
from generation.jobs.reviewing import asset_review_open
from generation.jobs.thumbnails import thumbnail_ensure
from generation.jobs.worker import asset_store
from governance.reviews.models import Review, ReviewTask
from governance.reviews.services import workflow_update
from imprimatur.tenancy.models import Membership
from tests.generation.jobs.factories import GenerationJobFactory, approved_asset
from tests.imprimatur.tenancy.factories import UserFactory

pytestmark = pytest.mark.django_db


def png(size=(64, 64), fill=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, fill).save(out, format="PNG")
    return out.getvalue()


def stored(tenant, *, size=(64, 64), creator="creator", quarantined=False, status="generated"):
    """An image stored as the worker stores it (``asset_store``: thumbnail included)."""
    job = GenerationJobFactory(
        request__project=tenant.project,
        request__created_by=tenant.users[creator],
        request__model_profile=tenant.model,
        request__status="succeeded",
        status="succeeded",
    )
    asset = asset_store(job=job, index=0, seed=1, png=png(size))
    if quarantined or status != "generated":
        Asset.objects.filter(pk=asset.pk).update(quarantined=quarantined, status=status)
        asset.refresh_from_db()
    return asset


def webp_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        return image.size


# --- Thumbnails ------------------------------------------------------------------------------


def test_the_worker_makes_one_small_webp_per_image(acme):
    small = stored(acme)
    assert small.thumbnail.name.endswith(".webp") and "-thumb" in small.thumbnail.name
    with small.thumbnail.open("rb") as handle:
        assert webp_size(handle.read()) == (64, 64)  # a 64 px image is not enlarged
    wide = stored(acme, size=(512, 256))
    with wide.thumbnail.open("rb") as handle:
        assert webp_size(handle.read()) == (256, 128)
    # Storing the same index again (a redelivered job) keeps the one thumbnail.
    again = asset_store(job=small.job, index=0, seed=1, png=png())
    assert again.pk == small.pk and again.thumbnail.name == small.thumbnail.name
    # And ensuring makes nothing new for an image that has one.
    assert thumbnail_ensure(small).thumbnail.name == small.thumbnail.name


def test_the_backfill_makes_the_missing_ones_once(acme):
    old = approved_asset(acme)  # stored without a thumbnail, as before thumbnails existed
    assert not old.thumbnail
    out = io.StringIO()
    call_command("generation_thumbnails", stdout=out)
    assert out.getvalue().strip() == "Made 1 thumbnail."
    old.refresh_from_db()
    name = old.thumbnail.name
    with old.thumbnail.open("rb") as handle:
        assert webp_size(handle.read()) == (16, 16)
    out = io.StringIO()
    call_command("generation_thumbnails", stdout=out)
    assert out.getvalue().strip() == "Made 0 thumbnails."
    old.refresh_from_db()
    assert old.thumbnail.name == name


def test_the_thumbnail_follows_the_images_rules(client, acme, globex):
    asset = stored(acme)
    url = f"/assets/{asset.pk}/thumbnail.webp"
    client.force_login(acme.users["reviewer"])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/webp"
    assert webp_size(b"".join(response.streaming_content)) == (64, 64)
    cache = response["Cache-Control"]
    assert "private" in cache and "immutable" in cache and "max-age=31536000" in cache
    client.force_login(globex.users["admin"])
    assert client.get(url).status_code == 404  # another organisation: as if it did not exist
    client.logout()
    assert client.get(url, HTTP_ACCEPT="application/json").status_code == 401


def test_a_quarantined_thumbnail_is_for_those_who_see_quarantined_images(client, acme):
    asset = stored(acme, quarantined=True)
    url = f"/assets/{asset.pk}/thumbnail.webp"
    answers = [("reviewer", 404), ("creator", 404), ("compliance", 200), ("admin", 200)]
    for role, expected in answers:
        client.force_login(acme.users[role])
        assert client.get(url).status_code == expected, role
        # The same answer as for the full image.
        assert client.get(f"/assets/{asset.pk}/image.png").status_code == expected, role


def test_an_image_stored_before_thumbnails_gets_one_when_first_asked(client, acme):
    old = approved_asset(acme)
    client.force_login(acme.users["reviewer"])
    response = client.get(f"/assets/{old.pk}/thumbnail.webp")
    assert response.status_code == 200
    old.refresh_from_db()
    assert old.thumbnail.name.endswith(".webp")
    assert client.get(f"/assets/{old.pk}/thumbnail.webp").status_code == 200
    old_name = old.thumbnail.name
    old.refresh_from_db()
    assert old.thumbnail.name == old_name
    # An older image whose file is gone has no thumbnail either: 404, not an error page.
    gone = approved_asset(acme)
    Asset.objects.filter(pk=gone.pk).update(image="assets/gone/missing.png")
    assert client.get(f"/assets/{gone.pk}/thumbnail.webp").status_code == 404


# --- The project gallery -----------------------------------------------------------------------


def project_url(tenant, **query) -> str:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return f"/projects/{tenant.project.slug}/?organization={tenant.organization.slug}&{params}"


def shown_assets(page: str) -> list[int]:
    return [int(pk) for pk in re.findall(r"/assets/(\d+)/thumbnail\.webp", page)]


def test_the_gallery_pages_newest_first_by_cursor(client, acme):
    assets = [stored(acme) for _ in range(30)]
    # Images made in the same microsecond still page apart: the id breaks the tie, here
    # right at the page's edge.
    same = timezone.now() - timedelta(days=1)
    Asset.objects.filter(pk__in=[asset.pk for asset in assets[:10]]).update(created_at=same)
    client.force_login(acme.users["reviewer"])
    first = client.get(project_url(acme)).content.decode()
    ids = shown_assets(first)
    assert len(ids) == 24 and ids == sorted(ids, reverse=True)
    found = re.search(r'href="\?([^"]*after=([0-9.]+)[^"]*)" rel="next"', first)
    assert found, "a next page link"
    second = client.get(f"/projects/{acme.project.slug}/?{found.group(1).replace('&amp;', '&')}")
    rest = shown_assets(second.content.decode())
    assert rest == [asset.pk for asset in reversed(assets[:6])]
    assert 'rel="next"' not in second.content.decode()
    assets[0].refresh_from_db()
    assert cursor_parse(cursor_of(assets[0])) == (same, assets[0].pk)
    assert cursor_parse("1.x") is None and cursor_parse("") is None


def test_the_gallery_filters(client, acme):
    mine = stored(acme)
    approved = stored(acme, status="approved")
    by_admin = stored(acme, creator="admin")
    old = stored(acme)
    Asset.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    client.force_login(acme.users["reviewer"])

    def ids(**query):
        response = client.get(project_url(acme, **query))
        assert response.status_code == 200
        return set(shown_assets(response.content.decode()))

    assert ids() == {mine.pk, approved.pk, by_admin.pk, old.pk}
    assert ids(status="approved") == {approved.pk}
    assert ids(creator=acme.users["admin"].pk) == {by_admin.pk}
    assert ids(model=acme.model.name) == {mine.pk, approved.pk, by_admin.pk, old.pk}
    assert ids(model="no-such-model") == set()
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    assert ids(since=since) == {mine.pk, approved.pk, by_admin.pk}
    until = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert ids(until=until) == {old.pk}
    page = client.get(project_url(acme, status="approved")).content.decode()
    assert "Approved" in page and ">approved<" not in page  # labels, not codes
    assert (
        "Dates are written as YYYY-MM-DD."
        in client.get(project_url(acme, since="yesterday")).content.decode()
    )


def test_the_gallery_hides_quarantined_images_from_those_who_may_not_see_them(client, acme):
    kept = stored(acme)
    withheld = stored(acme, quarantined=True)
    client.force_login(acme.users["reviewer"])
    assert set(shown_assets(client.get(project_url(acme)).content.decode())) == {kept.pk}
    client.force_login(acme.users["compliance"])
    page = client.get(project_url(acme)).content.decode()
    assert set(shown_assets(page)) == {kept.pk, withheld.pk}
    assert "Withheld by the checks" in page


def test_pages_make_the_same_queries_for_many_images(client, acme, django_assert_max_num_queries):
    for _ in range(3):
        stored(acme)
    client.force_login(acme.users["admin"])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for label in ("few", "many"):
        if label == "many":
            for _ in range(20):
                stored(acme)
        with CaptureQueriesContext(connection) as project_page:
            client.get(project_url(acme))
        with CaptureQueriesContext(connection) as dashboard:
            client.get("/")
        counts[label] = (len(project_page), len(dashboard))
    assert counts["few"] == counts["many"], counts  # no query per image
    with django_assert_max_num_queries(counts["many"][0]):
        client.get(project_url(acme))


# --- The dashboard -----------------------------------------------------------------------------


def test_the_dashboard_shows_recent_images_of_my_projects_only(client, acme, globex):
    mine = stored(acme)
    withheld = stored(acme, quarantined=True)
    theirs = stored(globex)
    client.force_login(acme.users["reviewer"])
    page = client.get("/").content.decode()
    assert "Recent images" in page
    assert set(shown_assets(page)) == {mine.pk}
    assert f"/assets/{theirs.pk}/" not in page and f"/assets/{withheld.pk}/" not in page
    client.force_login(acme.users["compliance"])
    assert set(shown_assets(client.get("/").content.decode())) == {mine.pk, withheld.pk}


# --- The review queue ------------------------------------------------------------------------


@pytest.fixture
def image_tasks(acme):
    """Three images waiting for acme's reviewers (one stage for images)."""
    workflow_update(
        project=acme.project,
        user=acme.users["admin"],
        stages=[{"name": "Look", "role": "reviewer", "approvals": 1, "kinds": ["asset"]}],
    )
    tasks = []
    for _ in range(3):
        asset = stored(acme)
        asset_review_open(asset, {"verdict": "pass", "reasons": []})
        tasks.append(Review.objects.get(kind="asset", object_id=asset.pk).tasks.get())
    return tasks


def shown_token(page: str) -> str:
    return re.search(r'name="shown" value="([^"]+)"', page).group(1)


def test_the_queue_shows_each_images_preview_and_approves_only_what_it_showed(
    client, acme, image_tasks, django_assert_max_num_queries
):
    client.force_login(acme.users["reviewer"])
    page = client.get("/reviews/").content.decode()
    for task in image_tasks:
        asset_id = Review.objects.get(pk=task.review_id).object_id
        assert f"/assets/{asset_id}/thumbnail.webp" in page
        assert f'name="task" value="{task.pk}"' in page
    assert "data-select-all" in page
    token = shown_token(page)
    # An image that arrived after the page was shown: on nobody's page yet.
    late = stored(acme)
    asset_review_open(late, {"verdict": "pass", "reasons": []})
    late_task = Review.objects.get(kind="asset", object_id=late.pk).tasks.get()
    response = client.post(
        "/reviews/bulk-approve/",
        {"task": [image_tasks[0].pk, image_tasks[1].pk, late_task.pk], "shown": token},
        follow=True,
    )
    text = response.content.decode()
    assert "Approved 2 tasks." in text
    assert f"#{late_task.pk}: Not shown with its preview on your queue page" in text
    statuses = dict(ReviewTask.objects.values_list("pk", "status"))
    assert statuses[image_tasks[0].pk] == statuses[image_tasks[1].pk] == "approved"
    assert statuses[image_tasks[2].pk] == statuses[late_task.pk] == "open"
    # The queue's queries do not grow with its tasks (one query per kind for the previews).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/reviews/")
    for _ in range(6):
        more = stored(acme)
        asset_review_open(more, {"verdict": "pass", "reasons": []})
    with django_assert_max_num_queries(len(few)):
        page = client.get("/reviews/").content.decode()
    assert page.count("thumbnail.webp") == 8


def test_bulk_approval_refuses_without_the_reviewers_own_page(client, acme, image_tasks):
    ids = [task.pk for task in image_tasks]
    second = UserFactory(username="acme-reviewer-2")
    Membership.objects.create(user=second, organization=acme.organization, role="reviewer")
    client.force_login(second)
    others = shown_token(client.get("/reviews/").content.decode())  # the same tasks, theirs
    client.force_login(acme.users["reviewer"])
    for token in ["", "forged", others]:
        response = client.post("/reviews/bulk-approve/", {"task": ids, "shown": token}, follow=True)
        assert "Approved" not in response.content.decode()
    assert set(ReviewTask.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"open"}


def test_an_image_the_reviewer_may_not_see_has_no_box(client, acme, image_tasks):
    asset = Review.objects.get(pk=image_tasks[0].review_id).target
    Asset.objects.filter(pk=asset.pk).update(quarantined=True)
    client.force_login(acme.users["reviewer"])
    page = client.get("/reviews/").content.decode()
    assert f'name="task" value="{image_tasks[0].pk}"' not in page
    assert f"/assets/{asset.pk}/thumbnail.webp" not in page
    assert f'name="task" value="{image_tasks[1].pk}"' in page
    response = client.post(
        "/reviews/bulk-approve/",
        {"task": [image_tasks[0].pk], "shown": shown_token(page)},
        follow=True,
    )
    assert "Not shown with its preview" in response.content.decode()
    assert ReviewTask.objects.get(pk=image_tasks[0].pk).status == "open"
