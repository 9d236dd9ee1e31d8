"""What the pages show as evidence of a request or an image: the prompt with the policy's
matches and its history, an image's checks. The review pages (registered as reviewable
evidence in ``apps.py``) and the request pages read the same dicts."""

from generation.jobs import selectors
from generation.jobs.check_words import check_sentences
from governance.policies.display import highlight_matches
from governance.reviews.selectors import review_last_decision, reviews_of
from imprimatur.tenancy.models import BRAND_THRESHOLD_DEFAULTS


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
    """What the image review page (the review desk) shows: the image with its checks in
    sentences, the brand kit beside it (reference images, palette with ΔE), the request's
    other images and its earlier versions with their images and reviewers' comments.

    Only reviewers of the asset's organisation reach this (the task is scoped), and the
    brand kit read is the asset's own project's."""
    privileged = selectors.may_see_quarantined(
        user=user, organization_id=asset.request.project.organization_id
    )
    item = asset_evidence(asset, user, privileged=privileged)
    history = selectors.request_history(asset.request)
    for version in history:
        version["images"] = [
            {"asset": old, "show_image": privileged or not old.quarantined}
            for old in version["assets"]
        ]
    return {
        "item": item,
        "req": asset.request,
        # The other images of the request, to compare the variants side by side.
        "variants": [
            asset_evidence(other, user, privileged=privileged)
            for other in asset.request.assets.exclude(pk=asset.pk).order_by("index")
        ],
        "kit": brand_kit_evidence(asset.request.project, item["result"], item["show_image"]),
        "prompt_highlighted": prompt_review_evidence(asset.request)["prompt_highlighted"],
        "history": history,
    }


#: How many reference images the desk shows beside the image.
DESK_REFERENCES = 6


def brand_kit_evidence(project, result: dict | None, show_image: bool) -> dict:
    """The project's brand kit as the desk shows it beside an image: its reference images,
    its palette, and the CIEDE2000 distance (ΔE 2000) of each of the image's dominant colours
    to each palette colour. The dominant colours are those the image's latest check measured
    (k-means in CIELAB, ``generation.checks.brand``); a withheld image shows none."""
    palette = [colour.upper() for colour in project.palette]
    swatches = []
    if show_image and result:
        part = ((result.get("brand") or {}).get("parts") or {}).get("palette") or {}
        swatches = part.get("swatches") or []
    references = list(project.reference_images.order_by("pk")[: DESK_REFERENCES + 1])
    threshold = project.brand_thresholds.get("delta_e", BRAND_THRESHOLD_DEFAULTS["delta_e"])
    colours = palette_distances(swatches, palette, threshold) if palette else []
    return {
        "project": project,
        "references": references[:DESK_REFERENCES],
        "more_references": len(references) > DESK_REFERENCES,
        "palette": palette,
        "colours": colours,
        "palette_nearest": _palette_nearest(palette, colours),
        "delta_e_threshold": threshold,
        "measured": bool(swatches),
    }


def _palette_nearest(palette: list[str], colours: list[dict]) -> list[dict]:
    """Each palette colour with the image's closest dominant colour to it and their ΔE."""
    found = []
    for index, colour in enumerate(palette):
        if not colours:
            found.append({"colour": colour, "image_colour": None})
            continue
        row = min(colours, key=lambda row: row["distances"][index]["delta_e"])
        cell = row["distances"][index]
        found.append(
            {
                "colour": colour,
                "image_colour": row["hex"],
                "percent": row["percent"],
                "delta_e": cell["delta_e"],
                "within": cell["within"],
            }
        )
    return found


def palette_distances(swatches: list[dict], palette: list[str], threshold: float) -> list[dict]:
    """Each dominant colour (a stored swatch: hex, CIELAB, pixel share) with its ΔE 2000 to
    every palette colour, in palette order, the nearest marked."""
    import numpy as np
    from skimage.color import deltaE_ciede2000, rgb2lab

    if not swatches:
        return []
    palette_rgb = np.array(
        [[int(colour[i : i + 2], 16) for i in (1, 3, 5)] for colour in palette], dtype=float
    )
    palette_lab = rgb2lab(palette_rgb.reshape(-1, 1, 3) / 255.0).reshape(-1, 3)
    labs = np.array([swatch["lab"] for swatch in swatches], dtype=float)
    distances = deltaE_ciede2000(labs[:, None, :], palette_lab[None, :, :])
    rows = []
    for swatch, row in zip(swatches, distances, strict=True):
        nearest = int(row.argmin())
        rows.append(
            {
                "hex": swatch["hex"],
                "share": swatch["share"],
                "percent": round(100 * swatch["share"]),
                "distances": [
                    {
                        "colour": colour,
                        # Exactly the palette's colour: 0, not a conversion's last bit.
                        "delta_e": 0.0 if swatch["hex"] == colour else float(value),
                        "nearest": index == nearest,
                        "within": swatch["hex"] == colour or float(value) <= threshold,
                    }
                    for index, (colour, value) in enumerate(zip(palette, row, strict=True))
                ],
            }
        )
    return rows


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
        "sentences": check_sentences(latest),
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
