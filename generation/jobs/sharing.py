"""Share links: an approved image's published file for people without an account.

Off unless an organisation's admin turns them on (``sharing_configure``). Compliance officers
and admins (``Action.GOVERN``) make a link for an approved image with a published file, valid
for at most ``IMPRIMATUR_SHARE_LINK_MAX_HOURS``; the link is a random token shown once, and
only its SHA-256 is stored, so a leaked database gives no working link. A link ends when it
expires, when someone revokes it, when the image is no longer approved, or when the
organisation turns sharing off. Making, revoking and every use are audited (a use with the
client's address).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from generation.jobs import events
from generation.jobs.models import Asset, ShareLink, SharingSettings
from imprimatur.errors import InvalidTransition
from imprimatur.tenancy.permissions import Action, user_may


class NotShareable(InvalidTransition):
    """A share that the image's or link's state does not allow (HTTP 409, like any
    InvalidTransition), with its own message."""

    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.obj, self.current, self.wanted = None, "", ""


class LinkGone(Exception):
    """The link existed but no longer gives its file (expired, revoked, sharing off…)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sharing_enabled(organization) -> bool:
    found = SharingSettings.objects.filter(organization=organization).first()
    return bool(found and found.share_links)


def sharing_configure_check(*, organization, user) -> None:
    """PermissionDenied unless ``user`` is an admin of ``organization``."""
    if not user_may(user, Action.MANAGE, organization):
        raise PermissionDenied("Only the organisation's admins turn share links on or off.")


def sharing_configure(*, organization, user, share_links: bool) -> SharingSettings:
    """Turn share links on or off for an organisation (its admins); audited."""
    sharing_configure_check(organization=organization, user=user)
    with transaction.atomic():
        current, _ = SharingSettings.objects.select_for_update().get_or_create(
            organization=organization
        )
        if current.share_links != share_links:
            current.share_links = share_links
            current.save(update_fields=["share_links", "updated_at"])
            events.sharing_configured(organization=organization, user=user, enabled=share_links)
    return current


def may_share(*, user, asset: Asset) -> bool:
    return user_may(user, Action.GOVERN, asset.request.project.organization)


def share_link_check(*, asset: Asset, user) -> None:
    """PermissionDenied unless ``user`` may make a link for ``asset`` now (who they are, and
    whether the organisation shares): the API asks it before judging the input."""
    if not may_share(user=user, asset=asset):
        raise PermissionDenied("Only compliance officers and admins share images.")
    if not sharing_enabled(asset.request.project.organization):
        raise PermissionDenied(
            "Share links are off for this organisation; an admin turns them on in Settings."
        )


def share_link_create(*, asset: Asset, user, hours: int) -> tuple[ShareLink, str]:
    """A new link for ``asset``: (the link, its token: shown once, never stored)."""
    share_link_check(asset=asset, user=user)
    maximum = settings.IMPRIMATUR_SHARE_LINK_MAX_HOURS
    if not 1 <= hours <= maximum:
        raise ValidationError({"expires_in_hours": [f"Between 1 and {maximum} hours."]})
    if asset.status != Asset.Status.APPROVED or not asset.published_image:
        raise NotShareable("Only an approved image with its published file is shared.")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        link = ShareLink.objects.create(
            asset=asset,
            token_sha256=_digest(token),
            expires_at=timezone.now() + timedelta(hours=hours),
            created_by=user,
        )
        events.share_link_created(link=link, user=user, hours=hours)
    return link, token


def share_link_revoke(*, link: ShareLink, user) -> ShareLink:
    if not may_share(user=user, asset=link.asset):
        raise PermissionDenied("Only compliance officers and admins revoke share links.")
    with transaction.atomic():
        locked = ShareLink.objects.select_for_update().get(pk=link.pk)
        if locked.revoked_at is not None:
            raise NotShareable("This share link is already revoked.")
        locked.revoked_at, locked.revoked_by = timezone.now(), user
        locked.save(update_fields=["revoked_at", "revoked_by"])
        events.share_link_revoked(link=locked, user=user)
    return locked


def share_link_use(*, token: str, address: str) -> Asset:
    """The asset whose published file the link gives, the use counted and audited. Http404
    for a token that names no link; LinkGone for one that no longer works."""
    link = (
        ShareLink.objects.select_related("asset__request__project__organization")
        .filter(token_sha256=_digest(token))
        .first()
    )
    if link is None:
        raise Http404("No such link.")
    asset = link.asset
    now = timezone.now()
    if link.revoked_at is not None:
        raise LinkGone("This link was revoked.")
    if link.expires_at <= now:
        raise LinkGone("This link has expired.")
    if not sharing_enabled(asset.request.project.organization):
        raise LinkGone("This organisation no longer shares images by link.")
    if asset.status != Asset.Status.APPROVED or not asset.published_image:
        raise LinkGone("This image is no longer approved.")
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk).update(uses=F("uses") + 1, last_used_at=now)
        events.share_link_used(link=link, address=address)
    return asset


# --- Reads -------------------------------------------------------------------------------


def share_links_of(*, user, asset: Asset):
    """The asset's links, for those who may share it (none for others)."""
    if not may_share(user=user, asset=asset):
        return ShareLink.objects.none()
    return asset.share_links.select_related("created_by", "revoked_by")


def share_link_get(*, user, pk: int) -> ShareLink:
    link = (
        ShareLink.objects.restrict(user, Action.GOVERN)
        .select_related("asset__request__project__organization", "created_by")
        .filter(pk=pk)
        .first()
    )
    if link is None:
        raise Http404("No such share link.")
    return link
