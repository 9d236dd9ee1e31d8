"""Set measures: CMMD of a project's approved images to its brand references, from the CLIP
embeddings the checks keep, on the calibration page and in the audit report.

Real checks (NudeNet, the demo CLIP, the palette) run on painted images; the references are
embedded by the same demo CLIP."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from generation.checks.cmmd import cmmd
from generation.jobs import checking
from generation.jobs.models import Asset, AssetCheck
from generation.jobs.set_measures import approved_cmmd
from governance.audit.models import AuditEvent
from governance.audit.reports import ReportScope, report_build
from imprimatur.tenancy import services
from tests.generation.jobs.test_calibration_threshold import painted_asset

pytestmark = pytest.mark.django_db

RED, NAVY, GREEN, YELLOW = (0xD7, 0x23, 0x23), (0x10, 0x20, 0x70), (0x10, 0xA0, 0x10), (240, 220, 0)


def png(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def add_references(tenant, colours):
    for colour in colours:
        reference = services.reference_image_add(
            project=tenant.project,
            user=tenant.users["admin"],
            image_file=SimpleUploadedFile("ref.png", png(colour), content_type="image/png"),
            caption="",
        )
        checking.reference_embed(reference)


def test_the_checks_keep_each_image_s_embedding_beside_the_result(acme):
    asset = painted_asset(acme, RED, Asset.Status.GENERATED)
    check = AssetCheck.objects.get(asset=asset)
    assert check.clip_model == checking.clip_model_name()
    clip = checking.clip_load()
    expected = clip.encode_images([Image.new("RGB", (64, 64), RED)]).float().numpy()[0]
    assert len(check.embedding) == len(expected)
    assert np.allclose(check.embedding, expected, atol=1e-5)
    # Not in the stored result, nor in the audit event (vectors are not evidence to read).
    assert "embedding" not in check.result
    event = AuditEvent.objects.filter(action="generation.asset.check").latest("pk")
    assert "embedding" not in str(event.data)


def test_approved_images_like_the_references_measure_closer_than_others(acme):
    add_references(acme, [RED, NAVY, RED])
    like = [painted_asset(acme, colour, Asset.Status.APPROVED) for colour in (RED, NAVY, RED)]
    measure = approved_cmmd(acme.project)
    assert measure.images == 3 and measure.references == 3 and not measure.reason
    assert measure.note.startswith("few images: a rough figure")
    # The same figure as CMMD over the stored vectors themselves.
    stored = [AssetCheck.objects.get(asset=a).embedding for a in like]
    references = list(acme.project.reference_images.values_list("embedding", flat=True))
    assert measure.value == pytest.approx(cmmd(stored, references))
    # Approving off-brand images instead moves the set away from the references.
    Asset.objects.filter(pk__in=[a.pk for a in like]).update(status=Asset.Status.REJECTED)
    for colour in (GREEN, YELLOW, GREEN):
        painted_asset(acme, colour, Asset.Status.APPROVED)
    away = approved_cmmd(acme.project)
    assert away.images == 3 and away.value > measure.value + 0.1


def test_without_enough_references_or_images_it_says_why(acme):
    painted_asset(acme, RED, Asset.Status.APPROVED)
    measure = approved_cmmd(acme.project)
    assert measure.value is None and "the brand kit has no reference images" in measure.reason
    add_references(acme, [RED, NAVY])
    measure = approved_cmmd(acme.project)
    assert measure.value is None and "1 here" in measure.reason and measure.images == 1
    # An embedding of another CLIP model is another space: left out, and counted.
    painted_asset(acme, NAVY, Asset.Status.APPROVED)
    AssetCheck.objects.filter(asset__status=Asset.Status.APPROVED).update(clip_model="other")
    measure = approved_cmmd(acme.project)
    assert measure.value is None and measure.images_left_out == 2


def test_the_calibration_page_and_the_report_show_the_measure(client, acme, globex):
    add_references(acme, [RED, NAVY])
    for colour in (RED, NAVY):
        painted_asset(acme, colour, Asset.Status.APPROVED)
    value = approved_cmmd(acme.project).label
    client.force_login(acme.users["compliance"])
    page = client.get(f"/projects/{acme.project.slug}/calibration/").content.decode()
    box = page[page.index("data-set-measure") :]
    box = box[: box.index("</section>")]
    assert f"CMMD {value}" in box and "2 newest approved images" in box
    assert "few images: a rough figure" in box
    now = timezone.now()
    scope = ReportScope(
        organization=acme.organization,
        since=now - timedelta(days=1),
        until=now + timedelta(seconds=1),
    )
    checks = next(s for s in report_build(scope).sections if s.key == "checks")
    (table,) = checks.tables
    assert table.rows == [[acme.project.name, 2, 2, value, approved_cmmd(acme.project).note]]
    # A period before the images: nothing approved, nothing measured.
    earlier = ReportScope(acme.organization, now - timedelta(days=9), now - timedelta(days=8))
    (table,) = next(s for s in report_build(earlier).sections if s.key == "checks").tables
    assert table.rows == []
    # Another organisation's report never lists this project.
    other = ReportScope(globex.organization, now - timedelta(days=1), now + timedelta(seconds=1))
    (table,) = next(s for s in report_build(other).sections if s.key == "checks").tables
    assert table.rows == []


def test_a_small_or_negative_figure_is_explained():
    from generation.jobs.set_measures import SetMeasure

    def measure(value, images, references):
        return SetMeasure(None, value, images, references, 0, 0)

    assert measure(0.5, 40, 10).note == ""
    assert measure(0.5, 9, 10).note == "few images: a rough figure"
    assert measure(-0.2, 40, 4).note == (
        "few images: a rough figure; below 0: no difference this estimate can tell from chance"
    )
    assert measure(None, 0, 0).note == "" and measure(None, 0, 0).label == "—"


def test_the_backfill_embeds_older_images_and_stale_references_once(acme):
    """Images checked before checks kept embeddings, and references embedded by another CLIP
    model, are embedded by the command; a check by another model is counted, not touched."""
    add_references(acme, [RED, NAVY])
    older = [painted_asset(acme, colour, Asset.Status.APPROVED) for colour in (RED, NAVY, RED)]
    kept = {a.pk: AssetCheck.objects.get(asset=a).embedding for a in older}
    before = approved_cmmd(acme.project)
    AssetCheck.objects.filter(asset__in=older).update(embedding=None)
    other = painted_asset(acme, GREEN, Asset.Status.APPROVED)
    AssetCheck.objects.filter(asset=other).update(clip_model="other", embedding=None)
    unapproved = painted_asset(acme, YELLOW, Asset.Status.GENERATED)
    AssetCheck.objects.filter(asset=unapproved).update(embedding=None)
    # (after the checks above, which embed any stale reference themselves)
    acme.project.reference_images.filter(pk=acme.project.reference_images.first().pk).update(
        embedding_model="other"
    )
    gap = approved_cmmd(acme.project)
    assert gap.value is None and gap.images_left_out == 4 and gap.references_left_out == 1

    out = io.StringIO()
    call_command("generation_embeddings", stdout=out)
    assert out.getvalue().splitlines() == [
        f"Embedded 3 approved images and 1 reference image with {checking.clip_model_name()}.",
        "1 approved image was checked by another CLIP model: run their checks again to count "
        "them in the set measure.",
    ]
    for asset in older:  # the stored file's vector: the check's, up to the PNG round trip
        assert np.allclose(AssetCheck.objects.get(asset=asset).embedding, kept[asset.pk], atol=1e-4)
    assert AssetCheck.objects.get(asset=other).embedding is None
    assert AssetCheck.objects.get(asset=unapproved).embedding is None
    after = approved_cmmd(acme.project)
    assert after.images == 3 and after.references == 2 and after.images_left_out == 1
    assert after.value == pytest.approx(before.value, abs=1e-3)
    out = io.StringIO()
    call_command("generation_embeddings", stdout=out)
    assert out.getvalue().startswith("Embedded 0 approved images and 0 reference images")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("generation_embeddings", limit=0)
