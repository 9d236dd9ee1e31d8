"""The review desk: an image beside its brand kit (reference images, palette with ΔE 2000),
the checks in sentences, the request's other images, and earlier versions inline with their
reviewers' comments; none of it for another organisation.

Real parts: the checks run for real (NudeNet, the demo CLIP) on images painted in known
colours, so the dominant colours and their distances are known exactly.
"""

import io

import pytest
from django.core.files.base import ContentFile
from PIL import Image

from generation.jobs import checking, reviewing, worker
from generation.jobs.check_words import check_sentences
from generation.jobs.evidence import asset_review_evidence, palette_distances
from governance.reviews.models import ReviewTask
from governance.reviews.services import task_decide
from imprimatur.tenancy.models import BrandReferenceImage
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db

RED, NAVY = "#D72323", "#192364"


def red_and_navy_png() -> bytes:
    """Left half brand red, right half brand navy."""
    image = Image.new("RGB", (64, 64), (0x19, 0x23, 0x64))
    image.paste((0xD7, 0x23, 0x23), (0, 0, 32, 64))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def checked_asset(tenant, *, rerun_of=None, index=0):
    job = GenerationJobFactory(
        request__project=tenant.project,
        request__created_by=tenant.users["creator"],
        request__rerun_of=rerun_of,
    )
    asset = worker.asset_store(job=job, index=index, seed=1, png=red_and_navy_png())
    check = checking.asset_checks_rerun(asset_id=asset.pk)
    reviewing.asset_review_open(asset, check.result)
    asset.refresh_from_db()
    return asset


@pytest.fixture
def desk(acme):
    acme.project.palette = [RED, NAVY]
    acme.project.save()
    reference = BrandReferenceImage(project=acme.project, caption="Red star on navy")
    reference.image.save("star.png", ContentFile(red_and_navy_png()), save=False)
    reference.save()
    # An earlier version, sent back with a comment, and the revision under review now.
    earlier = checked_asset(acme)
    first_task = ReviewTask.objects.get(review__object_id=earlier.pk, stage_index=0)
    task_decide(
        task=first_task,
        user=acme.users["reviewer"],
        decision="changes",
        comment="Make the star bigger.",
    )
    current = checked_asset(acme, rerun_of=earlier.request)
    task = ReviewTask.objects.get(review__object_id=current.pk, stage_index=0)
    return {"earlier": earlier, "current": current, "task": task, "reference": reference}


def test_the_evidence_puts_the_brand_kit_and_earlier_versions_beside_the_image(acme, desk):
    evidence = asset_review_evidence(desk["current"], acme.users["reviewer"])
    kit = evidence["kit"]
    assert kit["palette"] == [RED, NAVY]
    assert [ref.pk for ref in kit["references"]] == [desk["reference"].pk]
    # The image is exactly the two brand colours, half each: ΔE 0 to its own colour, far
    # from the other, and the nearest marked.
    rows = {row["hex"]: row for row in kit["colours"]}
    assert set(rows) == {RED, NAVY}
    red = {cell["colour"]: cell for cell in rows[RED]["distances"]}
    assert red[RED]["delta_e"] == 0.0 and red[RED]["nearest"] and red[RED]["within"]
    assert red[NAVY]["delta_e"] > 30 and not red[NAVY]["within"]
    assert rows[RED]["percent"] == 50
    [version] = evidence["history"]
    assert version["request"] == desk["earlier"].request
    assert [image["asset"] for image in version["images"]] == [desk["earlier"]]
    assert [d.comment for d in version["comments"]] == ["Make the star bigger."]


def test_palette_distances_are_ciede2000_not_cie76():
    from skimage.color import deltaE_cie76, deltaE_ciede2000

    lab = [50.0, 2.6772, -79.7751]
    swatch = {"hex": "#1A2B3C", "share": 1.0, "lab": lab}
    [row] = palette_distances([swatch], ["#FFFFFF"], 10.0)
    [cell] = row["distances"]
    white = [100.0, 0.0, 0.0]  # #FFFFFF in CIELAB (D65)
    assert cell["delta_e"] == pytest.approx(float(deltaE_ciede2000(lab, white)), abs=0.01)
    assert abs(cell["delta_e"] - float(deltaE_cie76(lab, white))) > 20
    assert cell["nearest"] and not cell["within"]


def test_check_results_read_as_sentences():
    result = {
        "safety": {
            "nudenet": {
                "detections": [
                    {"class": "FEMALE_BREAST_EXPOSED", "score": 0.81, "threshold": 0.5,
                     "action": "fail", "triggered": True},
                    {"class": "FACE_FEMALE", "score": 0.9, "threshold": 0.5, "action": "face",
                     "triggered": True},
                ]
            },
            "concepts": [{"name": "a weapon", "score": 0.3, "threshold": 0.25, "verdict": "flag"}],
        },
        "brand": {
            "score": 0.42,
            "threshold": 0.5,
            "parts": {
                "alignment": {"value": -0.1, "threshold": 0.2, "passed": False},
                "palette": {"value": 0.32, "threshold": 0.5, "passed": False,
                            "delta_e_threshold": 10.0},
                "reference": {"value": 0.7, "threshold": 0.6, "passed": True},
            },
        },
    }  # fmt: skip
    assert check_sentences(result) == [
        "Safety: the nudity detector found female breast exposed (score 0.81, limit 0.50), "
        "so the image is withheld.",
        "Prompt policy: the image looks like “a weapon” (score 0.30, limit 0.25), so a reviewer "
        "must look at it.",
        "Brand fit: the image fits the brand less than the project requires overall (0.42, "
        "needs at least 0.50).",
        "Brand fit: the image matches its prompt less than the project requires "
        "(\N{MINUS SIGN}0.10, needs at least 0.20).",
        "Brand fit: too little of the image is in the brand's colours (32 % of it within ΔE 10 "
        "of the palette, needs at least 50 %).",
    ]
    assert check_sentences(None) == []


def test_the_desk_page_shows_it_all_to_the_reviewer(client, acme, desk):
    client.force_login(acme.users["reviewer"])
    page = client.get(f"/reviews/tasks/{desk['task'].pk}/").content.decode()
    assert f"/reference-images/{desk['reference'].pk}/" in page
    assert "data-delta-e" in page and "ΔE 2000" in page
    assert f"/assets/{desk['earlier'].pk}/image.png" in page  # the earlier version, inline
    assert "Make the star bigger." in page
    # The findings in sentences, not the checks' terse records ("brand alignment 0.02 < 0.20").
    assert "Brand fit: the image matches its prompt less than the project requires" in page
    assert "brand alignment" not in page and " &lt; " not in page


def test_another_organisation_sees_nothing_of_the_desk(client, acme, globex, desk):
    for role in ("reviewer", "admin", "compliance"):
        client.force_login(globex.users[role])
        response = client.get(f"/reviews/tasks/{desk['task'].pk}/")
        assert response.status_code == 404
        assert "Make the star bigger." not in response.content.decode()
        assert client.get(f"/reference-images/{desk['reference'].pk}/").status_code == 404
