"""Dashboard, project list, account settings, and the 404 page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from generation.jobs.selectors import generation_request_list
from imprimatur.api import error_response
from imprimatur.tenancy.models import BrandReferenceImage
from imprimatur.tenancy.selectors import project_list as project_select
from imprimatur.tenancy.services import api_token_create, api_token_revoke


@login_required
def dashboard(request):
    return render(
        request,
        "web/dashboard.html",
        {
            "projects": project_select(user=request.user)[:12],
            "recent_requests": generation_request_list(user=request.user).prefetch_related(
                "assets"
            )[:10],
        },
    )


@login_required
def project_list(request):
    return render(request, "web/projects.html", {"projects": project_select(user=request.user)})


@login_required
def settings_page(request):
    token = Token.objects.filter(user=request.user).first()
    new_key = request.session.pop("new_token_key", None)
    return render(request, "web/settings.html", {"token": token, "new_key": new_key})


@login_required
@require_POST
def token_change(request):
    if request.POST.get("action") == "revoke":
        if api_token_revoke(user=request.user):
            messages.success(
                request, "Your API token was revoked. Clients using it are locked out."
            )
    else:
        token = api_token_create(user=request.user)
        # Shown once, on the next page only.
        request.session["new_token_key"] = token.key
        messages.success(request, "A new API token was created. Copy it now.")
    return redirect("web:settings")


@login_required
def reference_image(request, pk: int):
    """A brand kit's reference image, for members of its organisation only."""
    image = BrandReferenceImage.objects.restrict(request.user).filter(pk=pk).first()
    if image is None:
        raise Http404("No such image.")
    return FileResponse(image.image.open("rb"))


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)
