"""Share links in the pages: the public download, the request page's buttons, the switch on
the settings page. The writes are `sharing.py`'s, as in the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from generation.jobs import selectors, sharing
from imprimatur.errors import InvalidTransition
from imprimatur.ratelimit import counters
from imprimatur.ratelimit.addresses import address_bucket, client_address
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action


@require_GET
@never_cache
def share_download(request, token: str):
    """The published file of an approved image, for anyone with a working link (no login).
    404 for a token that names no link, 410 for one that expired or was revoked; 429 past
    IMPRIMATUR_SHARE_PER_MINUTE downloads (or guesses) a minute from one client address."""
    from django.conf import settings

    address = client_address(request)
    hits = counters.hit(f"share:{address_bucket(address)}", counters.Window(60))
    if hits > settings.IMPRIMATUR_SHARE_PER_MINUTE:
        response = HttpResponse(
            "Too many downloads from your address; try again in a minute.\n",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "60"
        return response
    try:
        asset = sharing.share_link_use(token=token, address=address)
    except sharing.LinkGone as gone:
        return HttpResponse(f"{gone}\n", status=410, content_type="text/plain; charset=utf-8")
    response = FileResponse(
        asset.published_image.open("rb"),
        content_type="image/png",
        filename=f"imprimatur-request{asset.request_id}-{asset.index + 1}-approved.png",
    )
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _back(asset) -> str:
    return f"{reverse('jobs:request', args=[asset.request_id])}#asset-{asset.pk}"


@login_required
@require_POST
def asset_share(request, pk: int):
    asset = selectors.asset_get(user=request.user, pk=pk)
    try:
        hours = int(request.POST.get("hours", ""))
    except ValueError:
        hours = 0
    try:
        link, token = sharing.share_link_create(asset=asset, user=request.user, hours=hours)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(_back(asset))
    except InvalidTransition as error:
        messages.error(request, str(error))
        return redirect(_back(asset))
    url = request.build_absolute_uri(reverse("jobs:share", args=[token]))
    messages.success(
        request,
        f"Share link {link.pk}, valid until {link.expires_at:%Y-%m-%d %H:%M} UTC (copy it now, "
        f"it is shown once): {url}",
    )
    return redirect(_back(asset))


@login_required
@require_POST
def share_revoke(request, pk: int):
    link = sharing.share_link_get(user=request.user, pk=pk)
    try:
        sharing.share_link_revoke(link=link, user=request.user)
        messages.success(request, f"Share link {link.pk} revoked: it no longer works.")
    except InvalidTransition as error:
        messages.error(request, str(error))
    return redirect(_back(link.asset))


@login_required
@require_POST
def sharing_settings(request, slug: str):
    organization = Organization.objects.restrict(request.user, Action.MANAGE).filter(slug=slug)
    organization = organization.first()
    if organization is None:
        raise Http404("No such organisation.")
    enabled = request.POST.get("share_links") == "on"
    sharing.sharing_configure(organization=organization, user=request.user, share_links=enabled)
    state = "on" if enabled else "off (every link stops working)"
    messages.success(request, f"Share links for {organization.name} are {state}.")
    return redirect("web:settings")


def share_context(user, assets) -> bool:
    """Puts each asset's links on it (``asset.shares``) for those who may share; whether the
    request page shows the share buttons."""
    if not assets:
        return False
    organization = assets[0].request.project.organization
    if not (
        sharing.sharing_enabled(organization) and sharing.may_share(user=user, asset=assets[0])
    ):
        return False
    for asset in assets:
        asset.shares = list(sharing.share_links_of(user=user, asset=asset)[:20])
    return True
