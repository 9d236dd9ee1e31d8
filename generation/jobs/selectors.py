"""Reads for generation, scoped to what the user may see."""

from django.db.models import Sum
from django.http import Http404

from generation.jobs.models import Asset, GenerationRequest, ModelProfile
from generation.jobs.outcome import with_outcome_counts
from governance.reviews.selectors import review_decisions, reviews_of
from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action, user_may


def generation_request_list(*, user, project=None):
    """Requests the user may see, newest first, with what ``outcome.request_outcome`` reads
    counted in the same query (a query that counts ignores ``Meta.ordering``: hence the
    explicit order)."""
    requests = with_outcome_counts(
        GenerationRequest.objects.restrict(user, Action.VIEW).select_related(
            "project", "created_by", "preset_version__preset"
        )
    ).order_by("-created_at", "-id")
    if project is not None:
        requests = requests.filter(project=project)
    return requests


def generation_request_get(*, user, pk: int) -> GenerationRequest:
    request = (
        generation_request_list(user=user)
        .prefetch_related("assets__checks", "jobs")
        .filter(pk=pk)
        .first()
    )
    if request is None:
        raise Http404("No such request.")
    return request


def asset_get(*, user, pk: int) -> Asset:
    asset = (
        Asset.objects.restrict(user, Action.VIEW)
        .select_related("request__project")
        .filter(pk=pk)
        .first()
    )
    if asset is None:
        raise Http404("No such asset.")
    return asset


def may_see_quarantined(*, user, organization_id: int) -> bool:
    """Quarantined images (failed the checks) are for compliance officers and admins only."""
    return user_may(user, Action.SEE_QUARANTINED, Organization(pk=organization_id))


def may_act_on(*, request: GenerationRequest, user) -> bool:
    """The request's creator, or an admin of its organisation (cancel, revise)."""
    return request.created_by_id == user.pk or user_may(user, Action.MANAGE, request)


def asset_file_get(*, user, pk: int) -> Asset:
    """An asset whose file the user may have: a quarantined one answers 404 to the others, as
    if it did not exist (its page says it was withheld, and why)."""
    asset = asset_get(user=user, pk=pk)
    if asset.quarantined and not may_see_quarantined(
        user=user, organization_id=asset.request.project.organization_id
    ):
        raise Http404("No such asset.")
    return asset


def latest_job(request: GenerationRequest):
    return max(request.jobs.all(), key=lambda job: job.pk, default=None)


def model_profile_list(*, user):
    """Admins see every model of their organisations; other members the enabled ones."""
    managed = ModelProfile.objects.restrict(user, Action.MANAGE)
    visible = ModelProfile.objects.restrict(user, Action.VIEW).filter(enabled=True)
    return (managed | visible).distinct().select_related("organization")


def model_profile_get(*, user, pk: int) -> ModelProfile:
    profile = model_profile_list(user=user).filter(pk=pk).first()
    if profile is None:
        raise Http404("No such model.")
    return profile


def recent_prompts(
    organization_id: int, project_id: int | None, since, limit: int
) -> list[tuple[int, int, str]]:
    """Up to ``limit`` (request id, project id, prompt) of an organisation (or one project)
    created since ``since``, newest first: what a prompt-policy re-check runs over."""
    requests = GenerationRequest.objects.filter(
        project__organization_id=organization_id, created_at__gte=since
    )
    if project_id is not None:
        requests = requests.filter(project_id=project_id)
    rows = requests.order_by("-created_at", "-pk").values_list("pk", "project_id", "prompt")
    return list(rows[:limit])


def images_requested(*, organization_id: int, project_id, user_id, since) -> int:
    """Images asked for by requests since ``since`` in an organisation (or one project, or by
    one user), failed, cancelled, rejected and sent-back requests left out: what prompt-policy
    quotas count."""
    requests = GenerationRequest.objects.filter(
        project__organization_id=organization_id, created_at__gte=since
    ).exclude(
        status__in=[
            GenerationRequest.Status.FAILED,
            GenerationRequest.Status.CANCELLED,
            GenerationRequest.Status.REJECTED,
            GenerationRequest.Status.CHANGES_REQUESTED,
        ]
    )
    if project_id is not None:
        requests = requests.filter(project_id=project_id)
    if user_id is not None:
        requests = requests.filter(created_by_id=user_id)
    return requests.aggregate(images=Sum("num_images"))["images"] or 0


def request_history(request: GenerationRequest, limit: int = 10) -> list[dict]:
    """The earlier versions of a request (what it re-runs or revises), newest first, each
    with its images and the comments its reviews ended with: what a reviewer reads as
    history. Whether an image may be shown is the caller's to decide (quarantine)."""
    history = []
    current = request.rerun_of
    while current is not None and len(history) < limit:
        comments = []
        assets = list(current.assets.order_by("index"))
        for target in [current, *assets]:
            for review in reviews_of(target=target):
                comments += [d for d in review_decisions(review) if d.comment]
        history.append({"request": current, "comments": comments, "assets": assets})
        current = current.rerun_of
    return history
