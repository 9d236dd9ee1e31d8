"""Styles in the review workflows: a trained style is reviewed (kind "style") with its
evaluation and sample images as evidence; the review's end approves or rejects it."""

from generation.styles.models import StyleModel
from generation.styles.transitions import style_transition
from governance.reviews.models import Review
from governance.reviews.services import review_open

STYLE_REVIEW = "style"

STYLE_REVIEW_ENDS = {
    Review.Status.APPROVED: StyleModel.Status.APPROVED,
    Review.Status.REJECTED: StyleModel.Status.REJECTED,
    # A style is not revised in place: a changed training set is a new version.
    Review.Status.CHANGES_REQUESTED: StyleModel.Status.REJECTED,
}


def style_review_open(style: StyleModel) -> Review | None:
    """Open the style's review by the project's workflow (None: no stage for styles)."""
    evaluation = style.evaluation or {}
    reasons = []
    if "cmmd_base" in evaluation and "cmmd_style" in evaluation:
        reasons.append(
            {
                "evaluation": f"CMMD to the brand's images: {evaluation['cmmd_style']:.3f} with "
                f"the style, {evaluation['cmmd_base']:.3f} without"
            }
        )
    return review_open(
        target=style,
        kind=STYLE_REVIEW,
        project=style.project,
        requested_by=style.created_by,
        title=f"style {style.name} v{style.version}",
        facts={"style"},
        reasons=reasons,
    )


def style_review_evidence(style: StyleModel, user) -> dict:
    images = list(style.images.all())
    return {
        "style": style,
        "evaluation": style.evaluation or {},
        "samples": list(style.samples.all()),
        "training_images": len([image for image in images if not image.held_out]),
        "held_out_images": len([image for image in images if image.held_out]),
        "owners": sorted({image.rights_owner for image in images}),
        "licences": sorted({image.licence for image in images}),
    }


def on_style_review_decided(sender, review, decision, **kwargs) -> None:
    """A style's review ended: approved styles may be used by requests; a rejection (or a
    request for changes) ends this version. A withdrawn review changes nothing."""
    if review.kind != STYLE_REVIEW or review.status not in STYLE_REVIEW_ENDS:
        return
    user = decision.user if decision else None
    comment = getattr(decision, "comment", "") if decision else ""
    to = STYLE_REVIEW_ENDS[review.status]
    style_transition(
        style=StyleModel(pk=review.object_id),
        to=to,
        actor=user,
        error="" if to == StyleModel.Status.APPROVED else f"Not approved in review: {comment}",
        data={"review": review.pk},
    )
