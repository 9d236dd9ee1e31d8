"""What the pages show as evidence of a request or an image: the prompt with the policy's
matches and its history, an image's checks. The review pages (registered as reviewable
evidence in ``apps.py``) and the request pages read the same dicts."""

from generation.jobs import selectors
from governance.policies.display import highlight_matches
from governance.reviews.selectors import review_last_decision, reviews_of


def prompt_review_evidence(generation_request, user=None) -> dict:
    """What the review and request pages show of a request besides the request itself: the
    prompt with the policy's matches, and its earlier versions with reviewers' comments."""
    return {
        "prompt_highlighted": highlight_matches(
            generation_request.prompt, generation_request.policy_matches
        ),
        "history": selectors.request_history(generation_request),
    }


def asset_review_evidence(asset, user) -> dict:
    """What the image review page shows: the request's prompt and the asset's checks."""
    privileged = selectors.may_see_quarantined(
        user=user, organization_id=asset.request.project.organization_id
    )
    return {
        "item": asset_evidence(asset, user, privileged=privileged),
        "req": asset.request,
        # The other images of the request, to compare the variants side by side.
        "variants": [
            asset_evidence(other, user, privileged=privileged)
            for other in asset.request.assets.exclude(pk=asset.pk).order_by("index")
        ],
        **prompt_review_evidence(asset.request),
    }


def asset_evidence(asset, user, *, privileged: bool | None = None) -> dict:
    """What the pages show of an asset's checks: the latest result, readable at a glance,
    the image only to those who may see it, NudeNet boxes only to compliance and admins."""
    checks = sorted(asset.checks.all(), key=lambda check: check.pk, reverse=True)
    if privileged is None:  # callers with several assets of one project pass it in
        privileged = selectors.may_see_quarantined(
            user=user, organization_id=asset.request.project.organization_id
        )
    latest = checks[0].result if checks else None
    review = next(iter(reviews_of(target=asset)), None)
    return {
        "asset": asset,
        "review": review,
        "review_decision": review_last_decision(review),
        "result": latest,
        "history": checks[1:],
        "show_image": privileged or not asset.quarantined,
        "show_boxes": privileged,
        "may_recheck": privileged,
        "boxes": _boxes(latest) if latest and privileged else [],
        "brand_parts": _brand_parts(latest),
    }


def _boxes(result: dict) -> list[dict]:
    nudenet = result["safety"]["nudenet"]
    return [
        {**detection, "x": detection["box"][0], "y": detection["box"][1],
         "w": detection["box"][2], "h": detection["box"][3]}
        for detection in nudenet["detections"]
        if detection["action"] != "ignore"
    ]  # fmt: skip


BRAND_PART_LABELS = {
    "reference": "Like the reference images",
    "descriptors": "On-brand rather than off-brand",
    "palette": "Brand colours",
    "alignment": "Matches the prompt",
}


def _brand_parts(result: dict | None) -> list[dict]:
    brand = (result or {}).get("brand") or {}
    return [
        {"name": name, "label": BRAND_PART_LABELS.get(name, name), **part}
        for name, part in (brand.get("parts") or {}).items()
    ]
