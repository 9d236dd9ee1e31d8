"""Galleries: pages of thumbnails (project page, dashboard) and the review queue's previews.

Reads only, scoped as every read is (``restrict``); a quarantined image appears only to those
who may see quarantined images in its organisation, as its file does. Pages go newest first
by (created_at, id) with a cursor (keyset pagination: no OFFSET, so page 500 costs what
page 1 costs; the index is ``asset_created_id_idx``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse

from generation.jobs.models import Asset, GenerationRequest, ModelProfile
from governance.reviews.registry import Preview
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action

PAGE_SIZE = 24
RECENT_SIZE = 12
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)

#: What a person reads for an image's status (the model's codes are not for people).
STATUS_LABELS = {
    Asset.Status.GENERATED: "Not reviewed yet",
    Asset.Status.APPROVED: "Approved",
    Asset.Status.REJECTED: "Rejected",
    Asset.Status.CHANGES_REQUESTED: "Changes requested",
}


@dataclass
class GalleryFilters:
    status: str = ""
    creator: int | None = None
    model: str = ""
    since: date | None = None
    until: date | None = None
    errors: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query) -> GalleryFilters:
        """The filters of a page's query string; what cannot be read is ignored and said."""
        found = cls()
        status = query.get("status", "")
        if status in STATUS_LABELS:
            found.status = status
        elif status:
            found.errors.append("That status is not one of the choices.")
        creator = query.get("creator", "")
        if creator.isdigit():
            found.creator = int(creator)
        found.model = query.get("model", "")[:100]
        for name in ("since", "until"):
            raw = query.get(name, "")
            if raw:
                try:
                    setattr(found, name, date.fromisoformat(raw))
                except ValueError:
                    found.errors.append("Dates are written as YYYY-MM-DD.")
        return found

    def apply(self, assets):
        if self.status:
            assets = assets.filter(status=self.status)
        if self.creator:
            assets = assets.filter(request__created_by_id=self.creator)
        if self.model:
            assets = assets.filter(request__model_name=self.model)
        if self.since:
            assets = assets.filter(created_at__gte=datetime.combine(self.since, time.min, UTC))
        if self.until:
            day_after = datetime.combine(self.until + timedelta(days=1), time.min, UTC)
            assets = assets.filter(created_at__lt=day_after)
        return assets

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the next page's link)."""
        values = {
            "status": self.status,
            "creator": str(self.creator or ""),
            "model": self.model,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


def cursor_of(asset: Asset) -> str:
    """The position after ``asset`` in a newest-first page: microseconds since 1970, id."""
    micros = (asset.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{asset.pk}"


def cursor_parse(raw: str) -> tuple[datetime, int] | None:
    micros, _, pk = (raw or "").partition(".")
    if not (micros.isdigit() and pk.isdigit()):
        return None
    return EPOCH + timedelta(microseconds=int(micros)), int(pk)


def _quarantine_visible(user, assets, organization_id: int | None = None, sees=None):
    """Leave out quarantined images of organisations where ``user`` may not see them
    (``sees``: the answer for ``organization_id`` when the caller has it already)."""
    seeing = Organization.objects.restrict(user, Action.SEE_QUARANTINED)
    if organization_id is not None:
        if sees is None:
            sees = seeing.filter(pk=organization_id).exists()
        return assets if sees else assets.filter(quarantined=False)
    return assets.filter(
        Q(quarantined=False) | Q(request__project__organization_id__in=seeing.values("pk"))
    )


def _newest_first(assets):
    return assets.select_related("request__created_by").order_by("-created_at", "-pk")


def _labelled(assets: list[Asset]) -> list[Asset]:
    for asset in assets:
        asset.status_label = STATUS_LABELS.get(asset.status, asset.status)
        asset.alt = image_alt(asset)
    return assets


def gallery_page(
    *, user, project, filters: GalleryFilters, after: str = "", size=PAGE_SIZE, sees=None
):
    """One page of the project's images, newest first, and the cursor of the next page (or
    an empty string on the last page). ``sees``: whether the user may see quarantined
    images here, when the caller knows it already."""
    assets = Asset.objects.restrict(user, Action.VIEW).filter(request__project=project)
    assets = filters.apply(_quarantine_visible(user, assets, project.organization_id, sees))
    position = cursor_parse(after)
    if position is not None:
        created, pk = position
        # The first condition lets the index bound the scan; the second breaks ties by id.
        assets = assets.filter(created_at__lte=created).filter(
            Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk)
        )
    else:
        # Always true, but a range on created_at makes SQLite walk the (created_at, id)
        # index instead of reading all the project's images and sorting them (2 s → 10 ms
        # at 100,000 images); PostgreSQL walks it either way.
        assets = assets.filter(created_at__lt=FAR_FUTURE)
    page = list(_newest_first(assets)[: size + 1])
    next_cursor = cursor_of(page[size - 1]) if len(page) > size else ""
    return _labelled(page[:size]), next_cursor


def gallery_choices(*, project) -> dict:
    """The filter menus: statuses, the project's creators, the organisation's models."""
    creators = (
        get_user_model()
        .objects.filter(
            pk__in=GenerationRequest.objects.filter(project=project).values("created_by")
        )
        .order_by("username")
        .only("pk", "username", "first_name", "last_name")
    )
    models = ModelProfile.objects.filter(organization_id=project.organization_id).only(
        "name", "display_name"
    )
    return {
        "statuses": list(STATUS_LABELS.items()),
        "creators": list(creators),
        "models": [(profile.name, str(profile)) for profile in models],
    }


def recent_images(*, user, size=RECENT_SIZE) -> list[Asset]:
    """The newest images of every project the user may see (the dashboard)."""
    assets = _quarantine_visible(user, Asset.objects.restrict(user, Action.VIEW))
    return _labelled(list(_newest_first(assets).select_related("request__project")[:size]))


def image_alt(asset: Asset) -> str:
    """An image's text alternative: which image it is and what was asked for."""
    request = asset.request
    prompt = request.prompt if len(request.prompt) <= 120 else request.prompt[:119] + "…"
    return f"Image {asset.index + 1} of request #{request.pk}: {prompt}"


def asset_previews(object_ids: list[int], user) -> dict[int, Preview]:
    """The review queue's previews of image reviews: the thumbnail of each image the user
    may see (a quarantined one only for those who may see it). One query for all."""
    assets = Asset.objects.restrict(user, Action.VIEW).filter(pk__in=object_ids)
    assets = _quarantine_visible(user, assets)
    # Two reverse() calls per task would cost more than the query on a page of 200: the
    # routes are reversed once, with a placeholder id; rows are read as tuples.
    thumbnail = reverse("jobs:asset-thumbnail", args=[0]).replace("/0/", "/{}/", 1)
    image = reverse("jobs:asset-image", args=[0]).replace("/0/", "/{}/", 1)
    rows = assets.values_list("pk", "index", "request_id", "request__prompt")
    previews = {}
    for pk, index, request_id, prompt in rows:
        prompt = prompt if len(prompt) <= 120 else prompt[:119] + "…"
        previews[pk] = Preview(
            image_url=thumbnail.format(pk),
            full_url=image.format(pk),
            alt=f"Image {index + 1} of request #{request_id}: {prompt}",
        )
    return previews


def prompt_previews(object_ids: list[int], user) -> dict[int, Preview]:
    """The review queue's previews of prompt reviews: the whole prompt, as submitted."""
    requests = GenerationRequest.objects.restrict(user, Action.VIEW).filter(pk__in=object_ids)
    return {pk: Preview(text=prompt) for pk, prompt in requests.values_list("pk", "prompt")}
