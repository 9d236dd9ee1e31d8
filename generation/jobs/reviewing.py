"""Generation's side of the review workflows: what it sends to review and how it reacts.

Requests (prompt review) and assets (image review) are registered as reviewable kinds in
``apps.py``. Reviews tell generation a review ended through ``review_decided``, inside the
decision's transaction; the receivers here move the request or asset on through their own
transitions, so what they do commits or rolls back with the decision.
"""

from generation.jobs import dispatch
from generation.jobs.checking import asset_review_facts
from generation.jobs.models import Asset, GenerationJob, GenerationRequest
from generation.jobs.transitions import asset_transition, generation_request_transition
from governance.policies.matching import Action as PolicyAction
from governance.reviews.models import Review
from governance.reviews.services import review_open

PROMPT_REVIEW = "prompt"
ASSET_REVIEW = "asset"


class NoReviewStage(Exception):
    """The policy asks for prompt review and the project's workflow has no stage for it."""


def prompt_review_open(request: GenerationRequest, *, user) -> Review:
    """Send a request's prompt to review (the policy matched a ``review`` rule); raises
    ``NoReviewStage`` when the project's workflow has none for prompts."""
    review = review_open(
        target=request,
        kind=PROMPT_REVIEW,
        project=request.project,
        requested_by=user,
        title=request.prompt[:120],
        facts={"prompt_review"},
        reasons=[
            {"rule": m["rule"], "category": m["category"], "explanation": m["explanation"]}
            for m in request.policy_matches
            if m["action"] == PolicyAction.REVIEW
        ],
    )
    if review is None:
        raise NoReviewStage()
    return review


def asset_review_open(asset: Asset, result: dict) -> None:
    """Send the image into the project's workflow. A quarantined image goes only to stages
    for failed checks (compliance), never to the stages every image passes through."""
    request = asset.request
    review_open(
        target=asset,
        kind=ASSET_REVIEW,
        project=request.project,
        requested_by=request.created_by,
        title=f"image {asset.index + 1} of request #{request.pk}: {request.prompt[:100]}",
        facts=asset_review_facts(asset, result),
        conditional_only=asset.quarantined,
        reasons=[{"check": reason} for reason in result["reasons"][:20]],
    )


#: How a review's end moves what it reviewed.
PROMPT_REVIEW_ENDS = {
    Review.Status.APPROVED: GenerationRequest.Status.QUEUED,
    Review.Status.REJECTED: GenerationRequest.Status.REJECTED,
    Review.Status.CHANGES_REQUESTED: GenerationRequest.Status.CHANGES_REQUESTED,
}
ASSET_REVIEW_ENDS = {
    Review.Status.APPROVED: Asset.Status.APPROVED,
    Review.Status.REJECTED: Asset.Status.REJECTED,
    Review.Status.CHANGES_REQUESTED: Asset.Status.CHANGES_REQUESTED,
}


def on_review_decided(sender, review, decision, **kwargs) -> None:
    """A prompt review ended: approval queues the request's job, rejection or a request for
    changes ends the request with the reviewer's words. A withdrawn review (the request was
    cancelled) changes nothing here."""
    if review.kind != PROMPT_REVIEW or review.status not in PROMPT_REVIEW_ENDS:
        return
    request = GenerationRequest.objects.get(pk=review.object_id)
    to = PROMPT_REVIEW_ENDS[review.status]
    if to == GenerationRequest.Status.QUEUED:
        request = generation_request_transition(request=request, to=to, actor=decision.user)
        job = GenerationJob.objects.create(request=request, total_steps=request.steps)
        queue = request.model_profile.queue if request.model_profile else "gpu"
        dispatch.job_enqueue(job_id=job.pk, queue=queue)
        return
    what = "Rejected" if to == GenerationRequest.Status.REJECTED else "Changes requested"
    reason = f"{what} in prompt review by {decision.user.get_username()}: {decision.comment}"
    generation_request_transition(request=request, to=to, error=reason, actor=decision.user)


def on_asset_review_decided(sender, review, decision, **kwargs) -> None:
    """An image review ended: the asset is approved, rejected or sent back; an approval is
    signed into a published file by a worker."""
    if review.kind != ASSET_REVIEW or review.status not in ASSET_REVIEW_ENDS:
        return
    asset = asset_transition(
        asset=Asset(pk=review.object_id),
        to=ASSET_REVIEW_ENDS[review.status],
        actor=decision.user if decision else None,
        review=review,
    )
    if asset.status == Asset.Status.APPROVED:
        dispatch.send_on_commit(dispatch.PUBLISH_APPROVED_ASSET, args=[asset.pk])
