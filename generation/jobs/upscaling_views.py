"""The request page's upscale buttons (the API's is ``assets_api.AssetUpscaleView``)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from generation.jobs import selectors
from generation.jobs.upscaling import asset_upscale_request, upscale_permission_check


@login_required
@require_POST
def asset_upscale(request, pk: int):
    """Enlarge an approved image (the request page's "Upscale" buttons)."""
    asset = selectors.asset_get(user=request.user, pk=pk)
    upscale_permission_check(asset=asset, user=request.user)
    try:
        factor = int(request.POST.get("factor", ""))
    except ValueError:
        factor = 0
    try:
        made = asset_upscale_request(asset=asset, user=request.user, factor=factor)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("jobs:request", pk=asset.request_id)
    messages.success(
        request, f"Upscaling {factor} times as request #{made.pk}; the result gets its own review."
    )
    return redirect("jobs:request", pk=made.pk)
