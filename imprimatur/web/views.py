"""Dashboard, project list, brand kits, account settings, and the error pages (in the API's
error format under /api/)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import defaults
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from generation.jobs.gallery import recent_images
from generation.jobs.selectors import generation_request_list, may_see_quarantined
from imprimatur.api import error_response
from imprimatur.downloads import file_download
from imprimatur.tenancy.models import BrandProject, BrandReferenceImage
from imprimatur.tenancy.permissions import Action, user_may
from imprimatur.tenancy.selectors import project_get
from imprimatur.tenancy.selectors import project_list as project_select
from imprimatur.tenancy.services import (
    api_token_create,
    api_token_revoke,
    project_brand_update,
    reference_image_add,
    reference_image_remove,
)
from imprimatur.web.forms import (
    BRAND_THRESHOLD_DEFAULTS,
    THRESHOLD_LABELS,
    BrandKitForm,
    ReferenceImageForm,
)


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
            "recent_images": recent_images(user=request.user),
        },
    )


@login_required
def project_list(request):
    return render(request, "web/projects.html", {"projects": project_select(user=request.user)})


def _may_manage(user, project: BrandProject) -> bool:
    return user_may(user, Action.MANAGE, project)


def _brand_kit_page(request, project, *, form=None, upload_form=None, status=200):
    can_edit = _may_manage(request.user, project)
    thresholds = [
        {
            "key": key,
            "label": THRESHOLD_LABELS[key][0],
            "value": project.brand_thresholds.get(key),
            "default": default,
        }
        for key, default in BRAND_THRESHOLD_DEFAULTS.items()
    ]
    return render(
        request,
        "web/brand_kit.html",
        {
            "project": project,
            "can_edit": can_edit,
            "can_calibrate": may_see_quarantined(
                user=request.user, organization_id=project.organization_id
            ),
            "form": form or BrandKitForm(initial=BrandKitForm.initial_for(project)),
            "upload_form": upload_form or ReferenceImageForm(),
            "thresholds": thresholds,
            "references": project.reference_images.all(),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def brand_kit(request, slug: str):
    """A project's brand kit: every member reads it (creators write better prompts knowing it);
    admins of its organisation edit it."""
    project = project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    if request.method == "GET":
        return _brand_kit_page(request, project)
    if not _may_manage(request.user, project):
        raise PermissionDenied("Only admins of the organisation edit the brand kit.")
    form = BrandKitForm(request.POST)
    if form.is_valid():
        try:
            project_brand_update(
                project=project,
                user=request.user,
                description=form.cleaned_data["description"],
                palette=form.cleaned_data["palette"],
                on_brand_descriptors=form.cleaned_data["on_brand_descriptors"],
                off_brand_descriptors=form.cleaned_data["off_brand_descriptors"],
                brand_thresholds=form.brand_thresholds(),
                likeness_review=form.cleaned_data["likeness_review"],
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, "The brand kit was saved. New checks use it from now on.")
            return redirect(_brand_kit_url(project))
    return _brand_kit_page(request, project, form=form, status=400)


@login_required
@require_POST
def reference_image_upload(request, slug: str):
    project = project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    if not _may_manage(request.user, project):
        raise PermissionDenied("Only admins of the organisation edit the brand kit.")
    upload_form = ReferenceImageForm(request.POST, request.FILES)
    if upload_form.is_valid():
        try:
            reference_image_add(
                project=project,
                user=request.user,
                image_file=upload_form.cleaned_data["image"],
                caption=upload_form.cleaned_data["caption"],
            )
        except ValidationError as error:
            upload_form.add_service_errors(error)
        else:
            messages.success(
                request, "The reference image was added. A worker embeds it for the checks."
            )
            return redirect(_brand_kit_url(project))
    return _brand_kit_page(request, project, upload_form=upload_form, status=400)


@login_required
@require_POST
def reference_image_delete(request, slug: str, pk: int):
    project = project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    if not _may_manage(request.user, project):
        raise PermissionDenied("Only admins of the organisation edit the brand kit.")
    reference = get_object_or_404(BrandReferenceImage, pk=pk, project=project)
    reference_image_remove(reference=reference, user=request.user)
    messages.success(request, "The reference image was removed.")
    return redirect(_brand_kit_url(project))


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


@file_download
def reference_image(request, pk: int):
    """A brand kit's reference image, for members of its organisation only."""
    image = BrandReferenceImage.objects.restrict(request.user).filter(pk=pk).first()
    if image is None:
        raise Http404("No such image.")
    return FileResponse(image.image.open("rb"))


def _brand_kit_url(project) -> str:
    """The brand kit's page, unambiguous even when another organisation uses the slug."""
    return (
        f"{reverse('web:brand-kit', args=[project.slug])}?organization={project.organization.slug}"
    )


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(404, "not_found", "Not found.")
    return render(request, "404.html", status=404)


def bad_request(request, exception=None):
    """400s that Django answers before any view (a bad Host header, a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE: 413 for the API)."""
    if request.path.startswith("/api/"):
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return error_response(
                413, "too_large", f"The request body is too large: at most {limit} bytes."
            )
        return error_response(400, "bad_request", "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if request.path.startswith("/api/"):
        return error_response(
            403, "permission_denied", str(exception or "") or "You may not do this."
        )
    return defaults.permission_denied(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return error_response(500, "server_error", "A server error occurred; it was logged.")
    return defaults.server_error(request)
