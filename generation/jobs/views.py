"""HTML views for generation: the project page with its request form, request pages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from generation.jobs import selectors, services
from generation.jobs.forms import GenerationRequestForm
from imprimatur.errors import InvalidTransition
from imprimatur.tenancy.models import Action, BrandProject
from imprimatur.tenancy.selectors import project_get


@login_required
def project_detail(request, slug: str):
    project = project_get(user=request.user, slug=slug)
    can_generate = (
        BrandProject.objects.restrict(request.user, Action.GENERATE).filter(pk=project.pk).exists()
    )
    form = GenerationRequestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if not can_generate:
            raise PermissionDenied("Only creators may make requests in this project.")
        if form.is_valid():
            values = dict(form.cleaned_data)
            prompt = values.pop("prompt")
            try:
                created = services.generation_request_submit(
                    project=project, user=request.user, prompt=prompt, params=values
                )
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, messages)
            else:
                return redirect("jobs:request", pk=created.pk)
        status = 400
    return render(
        request,
        "jobs/project.html",
        {
            "project": project,
            "form": form,
            "can_generate": can_generate,
            "requests": selectors.generation_request_list(
                user=request.user, project=project
            ).prefetch_related("assets")[:20],
        },
        status=status,
    )


def _status_context(request, pk: int) -> dict:
    generation_request = selectors.generation_request_get(user=request.user, pk=pk)
    return {
        "req": generation_request,
        "job": selectors.latest_job(generation_request),
        "can_act": services.may_act_on(request=generation_request, user=request.user),
        "can_generate": BrandProject.objects.restrict(request.user, Action.GENERATE)
        .filter(pk=generation_request.project_id)
        .exists(),
    }


@login_required
def request_detail(request, pk: int):
    return render(request, "jobs/request_detail.html", _status_context(request, pk))


@login_required
def request_status(request, pk: int):
    """The live part of the request page; htmx polls it until the request finishes."""
    return render(request, "jobs/_request_status.html", _status_context(request, pk))


@login_required
@require_POST
def request_cancel(request, pk: int):
    generation_request = selectors.generation_request_get(user=request.user, pk=pk)
    try:
        services.generation_request_cancel(request=generation_request, user=request.user)
    except InvalidTransition:
        messages.error(request, "The request had already finished; nothing was cancelled.")
    else:
        messages.success(request, "Cancelled. A running job stops after its current step.")
    return redirect("jobs:request", pk=pk)


@login_required
@require_POST
def request_rerun(request, pk: int):
    source = selectors.generation_request_get(user=request.user, pk=pk)
    new_seeds = request.POST.get("new_seeds") == "1"
    rerun = services.generation_request_rerun(
        request=source, user=request.user, new_seeds=new_seeds
    )
    messages.success(
        request,
        f"Submitted as request #{rerun.pk} "
        + ("with new seeds." if new_seeds else f"with the same seed ({rerun.seed})."),
    )
    return redirect("jobs:request", pk=rerun.pk)


@login_required
def asset_image(request, pk: int):
    asset = selectors.asset_get(user=request.user, pk=pk)
    return FileResponse(asset.image.open("rb"), content_type="image/png")
