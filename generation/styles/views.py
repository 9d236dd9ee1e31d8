"""Brand styles in the pages: a project's presets and style models, one style's training,
evaluation and samples. The writes are the services' (as in the API)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generation.styles import presets, selectors, services
from generation.styles.forms import PresetForm, StyleUploadForm
from generation.styles.models import StyleSample
from imprimatur.downloads import file_download
from imprimatur.errors import InvalidTransition
from imprimatur.tenancy.permissions import Action, user_may
from imprimatur.tenancy.selectors import project_get


def _errors_to_form(form, error: ValidationError) -> None:
    for field, messages_ in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages_)


@login_required
@require_http_methods(["GET", "POST"])
def project_styles(request, slug: str):
    project = project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    is_admin = user_may(request.user, Action.MANAGE, project)
    approved = list(selectors.approved_styles(project))
    models = list(project.model_profiles.filter(enabled=True).order_by("name"))
    if request.method == "POST" and not is_admin:
        raise PermissionDenied("Only admins of this project's organisation manage styles.")
    which = request.POST.get("form") if request.method == "POST" else None
    preset_form = PresetForm(
        request.POST if which == "preset" else None, styles=approved, prefix="preset"
    )
    style_form = StyleUploadForm(
        request.POST if which == "style" else None,
        request.FILES if which == "style" else None,
        models=models,
        prefix="style",
    )
    status = 200
    if which == "preset" and preset_form.is_valid():
        data = dict(preset_form.cleaned_data)
        name = data.pop("name")
        try:
            presets.preset_save(project=project, user=request.user, name=name, data=data)
        except ValidationError as error:
            _errors_to_form(preset_form, error)
        else:
            messages.success(request, f"Preset “{name}” saved.")
            return redirect(request.path)
    elif which == "style" and style_form.is_valid():
        data = style_form.cleaned_data
        try:
            style = services.style_create(
                project=project,
                user=request.user,
                name=data["name"],
                base_model=data["base_model"],
                images=[
                    {"file": file, "owner": data["rights_owner"], "licence": data["licence"]}
                    for file in data["images"]
                ],
                attest=data["attest"],
                config={"steps": data["steps"], "time_budget_s": data["time_budget_s"]},
            )
        except ValidationError as error:
            _errors_to_form(style_form, error)
        else:
            messages.success(request, f"Training set of “{style.name}” stored.")
            return redirect("styles:style", pk=style.pk)
    if request.method == "POST":
        status = 400
    context = {
        "project": project,
        "is_admin": is_admin,
        "presets": selectors.preset_list(user=request.user, project=project).filter(archived=False),
        "styles": selectors.style_list(user=request.user, project=project),
        "preset_form": preset_form,
        "style_form": style_form,
    }
    return render(request, "styles/project_styles.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def preset_detail(request, pk: int):
    preset = selectors.preset_get(user=request.user, pk=pk)
    is_admin = user_may(request.user, Action.MANAGE, preset)
    current = preset.current
    initial = {field: getattr(current, field) for field in presets.PRESET_FIELDS}
    initial["style_model"] = current.style_model_id
    initial["name"] = preset.name
    approved = list(selectors.approved_styles(preset.project))
    form = PresetForm(
        request.POST or None, initial=initial, styles=approved, editing=True, prefix="preset"
    )
    status = 200
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied("Only admins of this project's organisation manage presets.")
        if form.is_valid():
            data = dict(form.cleaned_data)
            data.pop("name", None)
            try:
                version = presets.preset_save(
                    project=preset.project,
                    user=request.user,
                    name=preset.name,
                    data=data,
                    preset=preset,
                )
            except ValidationError as error:
                _errors_to_form(form, error)
            else:
                messages.success(request, f"Version {version.number} saved.")
                return redirect(request.path)
        status = 400
    context = {"preset": preset, "is_admin": is_admin, "form": form}
    return render(request, "styles/preset_detail.html", context, status=status)


@login_required
@require_GET
def style_detail(request, pk: int):
    style = selectors.style_get(user=request.user, pk=pk)
    context = {
        "style": style,
        "is_admin": user_may(request.user, Action.MANAGE, style),
        "images": style.images.select_related("attested_by"),
        "samples": style.samples.all(),
        "progress": round(100 * style.steps_done / style.total_steps) if style.total_steps else 0,
    }
    return render(request, "styles/style_detail.html", context)


@login_required
@require_POST
def style_action(request, pk: int, verb: str):
    style = selectors.style_get(user=request.user, pk=pk)
    act = {
        "train": services.style_train,
        "cancel": services.style_cancel,
        "review": services.style_review_send,
    }.get(verb)
    if act is None:
        from django.http import Http404

        raise Http404("No such action.")
    try:
        act(style=style, user=request.user)
    except (ValidationError, InvalidTransition) as error:
        text = "; ".join(error.messages) if isinstance(error, ValidationError) else None
        messages.error(request, text or "The style cannot do that in its present state.")
    return redirect(reverse("styles:style", args=[style.pk]))


@require_GET
@file_download
def sample_image(request, pk: int):
    sample = StyleSample.objects.restrict(request.user, Action.VIEW).filter(pk=pk).first()
    if sample is None:
        from django.http import Http404

        raise Http404("No such image.")
    return FileResponse(sample.image.open("rb"), content_type="image/png")
