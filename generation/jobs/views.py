"""HTML views for generation: the project page with its request form, request pages."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from generation.jobs import catalog, exports, kept_uploads, selectors, services
from generation.jobs.evidence import asset_evidence, prompt_review_evidence
from generation.jobs.fairness import queue_place
from generation.jobs.forms import (
    POLICY_FEEDBACK_FIELDS,
    GenerationRequestForm,
    ModelProfileForm,
    request_style_params,
)
from generation.jobs.gallery_views import gallery_context
from generation.jobs.models import Asset, GenerationRequest, PolicyOutcome
from generation.jobs.params import models_for_project, prompt_token_error, upscaler_available
from generation.jobs.sharing_views import share_context
from generation.styles.presets import preset_apply
from governance.policies import selectors as policy_selectors
from governance.policies.display import (
    highlight_matches,
    policy_matches_data,
    with_category_labels,
)
from governance.policies.quotas import policy_quota_usage
from governance.policies.services import policy_evaluate
from governance.reviews.selectors import reviews_of
from imprimatur.downloads import file_download
from imprimatur.errors import InvalidTransition
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action, user_may
from imprimatur.tenancy.selectors import project_get


@login_required
def project_detail(request, slug: str):
    project = project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    can_generate = user_may(request.user, Action.GENERATE, project)
    # A derivative: image-to-image from an approved image of this project.
    source = _derivative_source(request, project)
    initial = {"mode": "image-to-image", "prompt": source.request.prompt} if source else None
    files, restored = request.FILES or None, {}
    if request.method == "POST":
        files, restored = kept_uploads.uploads_restore(
            request.POST, request.FILES, project=project, user=request.user
        )
    form = GenerationRequestForm(request.POST or None, files, project=project, initial=initial)
    status, kept = 200, {}
    if request.method == "POST":
        if not can_generate:
            raise PermissionDenied("Only creators may make requests in this project.")
        if form.is_valid():
            values = {key: value for key, value in form.cleaned_data.items() if value is not None}
            prompt = values.pop("prompt")
            try:
                values = request_style_params(form, values)
                if source is not None:
                    values["init_image"] = services.derivative_source(
                        asset=source, user=request.user, project=project
                    )
                created = services.generation_request_submit(
                    project=project,
                    user=request.user,
                    prompt=prompt,
                    params=values,
                    parent_asset=source,
                )
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                return redirect("jobs:request", pk=created.pk)
        status = 400
        # The init image and mask stay for the next try (the browser cannot re-fill them).
        kept = kept_uploads.uploads_keep(
            form, project=project, user=request.user, restored=restored
        )
    sees_quarantined = selectors.may_see_quarantined(
        user=request.user, organization_id=project.organization_id
    )
    return render(
        request,
        "jobs/project.html",
        {
            "project": project,
            "form": form,
            "can_generate": can_generate,
            "source": source,
            "can_calibrate": sees_quarantined,
            "kept": kept,
            "no_policy": not policy_selectors.project_judged_by_policy(project=project),
            "requests": selectors.generation_request_list(
                user=request.user, project=project
            ).prefetch_related("assets")[:20],
            **gallery_context(request, project, sees_quarantined=sees_quarantined),
        },
        status=status,
    )


def _derivative_source(request, project):
    """The approved image named by ``from_asset`` (query or form), if the user may see it."""
    raw = request.POST.get("from_asset") or request.GET.get("from_asset")
    if not raw:
        return None
    if not str(raw).isdigit():
        raise Http404("No such image.")
    asset = selectors.asset_file_get(user=request.user, pk=int(raw))
    if asset.request.project_id != project.pk or asset.status != "approved":
        raise Http404("No approved image of this project with that number.")
    return asset


OUTCOME_WORDS = {
    "allow": "Allowed: the prompt policy lets this prompt through.",
    "review": "Needs review: a compliance officer approves this prompt before anything is "
    "generated.",
    "block": "Blocked: the prompt policy does not allow this prompt.",
    # The prompt passes, but the settings break the policy's limits: it would be refused.
    "limits": "Not with these settings: they are over the prompt policy's limits (below).",
}


@login_required
@require_POST
def policy_check(request, slug: str):
    """Live feedback while a creator types: what the policy says about the prompt (htmx)."""
    project = project_get(
        user=request.user, slug=slug, organization=request.GET.get("organization")
    )
    if not user_may(request.user, Action.GENERATE, project):
        raise PermissionDenied("Only creators of this project check prompts here.")
    prompt = request.POST.get("prompt", "").strip()
    context = {"prompt": prompt}
    if prompt:
        try:
            if request.POST.get("preset"):
                # The policy judges the prompt with the preset's template applied, as on submit.
                prompt, _, _ = preset_apply(
                    project=project, prompt=prompt, params={"preset": request.POST["preset"]}
                )
                context["prompt"] = prompt
            decision = policy_evaluate(
                project=project,
                prompt=prompt,
                negative_prompt=request.POST.get("negative_prompt", ""),
                params=_feedback_params(request.POST),
            )
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
        else:
            matches = policy_matches_data(decision.matches)
            # One verdict: a prompt the rules allow is still refused over the limits.
            verdict = str(decision.outcome)
            if decision.limit_errors and verdict != "block":
                verdict = "limits"
            context.update(
                no_policy=not decision.version_ids,
                outcome=str(decision.outcome),
                verdict=verdict,
                outcome_words=OUTCOME_WORDS[verdict],
                highlighted=highlight_matches(prompt, matches),
                matches=with_category_labels(matches),
                negative_additions=decision.negative_additions,
                limit_errors=[
                    message for messages_ in decision.limit_errors.values() for message in messages_
                ]
                + _prompt_token_errors(project, request.POST),
                quotas=policy_quota_usage(decision=decision, project=project, user=request.user),
            )
    return render(request, "jobs/_policy_feedback.html", context)


def _prompt_token_errors(project, data) -> list[str]:
    """What the chosen model's text encoder cannot read of the prompts (its family's limit)."""
    profiles = list(models_for_project(project))
    profile = next((p for p in profiles if p.name == data.get("model")), None)
    profile = profile or (profiles[0] if profiles else None)
    if profile is None:
        return []
    errors = [
        prompt_token_error(profile, data.get("prompt", "").strip()),
        prompt_token_error(profile, data.get("negative_prompt", ""), what="negative prompt"),
    ]
    return [error for error in errors if error]


def _feedback_params(data) -> dict:
    """The parameters of the live feedback as numbers where they read as numbers (the form
    is not validated while the creator types; what does not parse is left unjudged)."""
    params = {"model": data.get("model", "")}
    for name in POLICY_FEEDBACK_FIELDS[3:]:
        raw = data.get(name, "").strip()
        try:
            params[name] = int(raw)
        except ValueError:
            try:
                params[name] = float(raw)
            except ValueError:
                continue
    return params


def _status_context(request, pk: int) -> dict:
    """What the request page and its live status show. Polled every half second while a
    request runs: the reviews and image evidence are read only when there are some."""
    generation_request = selectors.generation_request_get(user=request.user, pk=pk)
    assets = list(generation_request.assets.all())
    privileged = bool(assets) and selectors.may_see_quarantined(
        user=request.user, organization_id=generation_request.project.organization_id
    )
    awaiting = generation_request.status == GenerationRequest.Status.AWAITING_REVIEW
    job = selectors.latest_job(generation_request)
    return {
        "req": generation_request,
        "job": job,
        "queue_place": queue_place(job) if job is not None else None,
        "reviews": reviews_of(target=generation_request) if awaiting else [],
        "asset_checks": [
            asset_evidence(asset, request.user, privileged=privileged) for asset in assets
        ],
        "can_act": selectors.may_act_on(request=generation_request, user=request.user),
        "can_generate": user_may(request.user, Action.GENERATE, generation_request.project),
        "can_share": share_context(request.user, assets),
        "can_upscale": upscaler_available(),
        "share_max_hours": settings.IMPRIMATUR_SHARE_LINK_MAX_HOURS,
        "changes_requested": generation_request.created_by_id == request.user.pk
        and (
            generation_request.status == GenerationRequest.Status.CHANGES_REQUESTED
            or any(asset.status == Asset.Status.CHANGES_REQUESTED for asset in assets)
        ),
    }


@login_required
def request_detail(request, pk: int):
    context = _status_context(request, pk)
    context.update(prompt_review_evidence(context["req"]))
    return render(request, "jobs/request_detail.html", context)


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
    try:
        rerun = services.generation_request_rerun(
            request=source, user=request.user, new_seeds=new_seeds
        )
    except ValidationError as error:
        # The policy may have changed since: say why, and submit nothing.
        messages.error(request, " ".join(error.messages))
        return redirect("jobs:request", pk=pk)
    messages.success(
        request,
        f"Submitted as request #{rerun.pk} "
        + ("with new seeds." if new_seeds else f"with the same seed ({rerun.seed})."),
    )
    return redirect("jobs:request", pk=rerun.pk)


@login_required
@require_POST
def request_revise(request, pk: int):
    """Submit an edited prompt after a reviewer asked for changes."""
    source = selectors.generation_request_get(user=request.user, pk=pk)
    prompt = request.POST.get("prompt", "").strip()
    try:
        revised = services.generation_request_revise(
            request=source, user=request.user, prompt=prompt
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("jobs:request", pk=pk)
    messages.success(request, f"Submitted the revised prompt as request #{revised.pk}.")
    return redirect("jobs:request", pk=revised.pk)


@login_required
@require_POST
def asset_recheck(request, pk: int):
    asset = selectors.asset_get(user=request.user, pk=pk)
    with transaction.atomic():
        services.asset_recheck_request(asset=asset, user=request.user)
    messages.success(
        request, "The checks run again in a worker; the new result appears here when done."
    )
    return redirect(f"{reverse('jobs:request', args=[asset.request_id])}#asset-{asset.pk}")


@file_download
def asset_published(request, pk: int):
    """The approved image, signed again with the approval in its manifest."""
    asset = selectors.asset_file_get(user=request.user, pk=pk)
    if not asset.published_image:
        raise Http404("This image has no approved version yet.")
    return FileResponse(
        asset.published_image.open("rb"),
        content_type="image/png",
        as_attachment=True,
        filename=f"imprimatur-request{asset.request_id}-{asset.index + 1}-approved.png",
    )


@file_download
def asset_export(request, pk: int, fmt: str):
    """The image (its approved version once approved) as PNG, JPEG or WebP, signed after the
    re-encoding: the signed source is the parent ingredient of the export's manifest."""
    asset = selectors.asset_file_get(user=request.user, pk=pk)
    try:
        exported = exports.asset_export(asset=asset, user=request.user, fmt=fmt)
    except ValidationError:
        raise Http404("Export as png, jpeg or webp.") from None
    response = HttpResponse(exported.content, content_type=exported.content_type)
    response["Content-Disposition"] = content_disposition_header(True, exported.filename)
    return response


@file_download
def asset_image(request, pk: int):
    asset = selectors.asset_file_get(user=request.user, pk=pk)
    return FileResponse(asset.image.open("rb"), content_type="image/png")


# --- Uploads and the model catalog -----------------------------------------------------------


@file_download
def request_upload(request, pk: int, which: str):
    """A request's init image or mask, for users who may see the request."""
    generation_request = selectors.generation_request_get(user=request.user, pk=pk)
    stored = {"init": generation_request.init_image, "mask": generation_request.mask_image}.get(
        which
    )
    if not stored:
        raise Http404("No such image.")
    return FileResponse(stored.open("rb"), content_type="image/png")


@login_required
def model_list(request):
    return render(
        request,
        "jobs/models.html",
        {
            "profiles": selectors.model_profile_list(user=request.user).prefetch_related(
                "projects"
            ),
            "admin_organizations": list(Organization.objects.restrict(request.user, Action.MANAGE)),
        },
    )


def _profile_form_values(form) -> tuple[dict, list[str]]:
    data = dict(form.cleaned_data)
    projects = data.pop("projects")
    data.pop("name")
    return data, projects


@login_required
def model_edit(request, pk: int | None = None):
    """Create (no pk) or change a model profile; admins of its organisation only."""
    profile = selectors.model_profile_get(user=request.user, pk=pk) if pk else None
    organizations = Organization.objects.restrict(request.user, Action.MANAGE)
    if profile is not None:
        organization = organizations.filter(pk=profile.organization_id).first()
    else:
        organization = organizations.filter(slug=request.GET.get("organization", "")).first()
        organization = organization or organizations.first()
    if organization is None:
        raise PermissionDenied("Only admins manage the model catalog.")
    initial = None
    if profile is not None:
        initial = {field: getattr(profile, field) for field in (*catalog.PROFILE_FIELDS, "name")}
        initial["sizes"] = ",".join(str(size) for size in profile.sizes)
        initial["projects"] = [project.slug for project in profile.projects.all()]
    form = ModelProfileForm(
        request.POST or None,
        initial=initial,
        organization=organization,
        editing=profile is not None,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            fields, slugs = _profile_form_values(form)
            projects = list(organization.projects.filter(slug__in=slugs))
            try:
                saved = catalog.model_profile_save(
                    organization=organization,
                    actor=request.user,
                    name=profile.name if profile else form.cleaned_data["name"],
                    fields=fields,
                    projects=projects,
                    profile=profile,
                )
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, problems)
            else:
                messages.success(request, f"Model {saved.name} saved ({saved.family_label}).")
                return redirect("jobs:models")
        status = 400
    return render(
        request,
        "jobs/model_form.html",
        {"form": form, "profile": profile, "organization": organization},
        status=status,
    )


# --- Verification for anyone -------------------------------------------------------------------


def verify_page(request):
    """Upload an image: its C2PA manifest and which asset of this platform it is."""
    from django.contrib.auth.views import redirect_to_login

    from generation.jobs.signing import (
        image_preview,
        image_verify,
        source_type_words,
        verify_allowed,
        verify_rate_exceeded,
    )

    if not verify_allowed(request.user):
        return redirect_to_login(request.get_full_path())
    context, status = {}, 200
    if request.method == "POST":
        upload = request.FILES.get("image")
        if verify_rate_exceeded(request):
            context["error"] = "Too many verifications from here: wait a minute and try again."
            status = 429
        elif upload is None:
            context["error"] = "Choose an image file to verify."
            status = 400
        else:
            data = upload.read()
            try:
                context["result"] = image_verify(data, user=request.user)
                context["preview"] = image_preview(data)
                report = context["result"]["report"]
                context["source_type"] = source_type_words(report.get("digital_source_type"))
                generation = report.get("generation") or {}
                context["manifest_words"] = {
                    "decision": dict(PolicyOutcome.choices).get(
                        generation.get("decision"), generation.get("decision")
                    ),
                    "checks": dict(Asset.Verdict.choices).get(
                        (generation.get("checks") or {}).get("verdict") or "", ""
                    ),
                }
            except ValueError as error:
                context["error"] = str(error)
                status = 400
    return render(request, "jobs/verify.html", context, status=status)
