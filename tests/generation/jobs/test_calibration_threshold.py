"""Calibration charts mark the threshold in force, say what it does to the reviewed images,
and let an admin set a brand threshold there: a new version of the brand kit, audited.

Real checks (NudeNet, the demo CLIP, the palette) run on two painted images."""

import io

import pytest
from PIL import Image

from generation.jobs import checking, worker
from generation.jobs.calibration import Distribution
from generation.jobs.models import Asset
from governance.audit.models import AuditEvent
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def painted_asset(tenant, colour, status):
    job = GenerationJobFactory(
        request__project=tenant.project, request__created_by=tenant.users["creator"]
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG")
    asset = worker.asset_store(job=job, index=0, seed=1, png=buffer.getvalue())
    checking.asset_checks_rerun(asset_id=asset.pk)
    Asset.objects.filter(pk=asset.pk).update(status=status)
    return asset


@pytest.fixture
def scored(acme):
    acme.project.palette = ["#D72323"]
    acme.project.save()
    painted_asset(acme, (0xD7, 0x23, 0x23), Asset.Status.APPROVED)  # all brand red: palette 1
    painted_asset(acme, (0x10, 0xA0, 0x10), Asset.Status.REJECTED)  # green: palette 0
    return acme


def url(tenant) -> str:
    return f"/projects/{tenant.project.slug}/calibration/"


def test_the_marker_sits_in_the_bin_of_the_threshold():
    distribution = Distribution("brand.palette", "Brand: palette", 0.0, 1.0)
    for value, decision in ((0.05, "rejected"), (0.35, "approved"), (0.95, "approved")):
        distribution.add(value, decision, 0.5)
    bins = distribution.bins(0.45)
    assert [row["marked"] for row in bins].index(True) == 4
    assert bins[4]["marker_percent"] == pytest.approx(50.0)
    assert [row["below"] for row in bins] == [True] * 4 + [False] * 6
    effect = distribution.effect(0.45)
    assert effect["under"] == {"approved": 1, "rejected": 1, "undecided": 0}
    assert effect["over"] == {"approved": 1, "rejected": 0, "undecided": 0}
    assert distribution.latest_threshold == 0.5


def test_the_chart_shows_the_current_threshold(client, scored):
    scored.project.brand_thresholds = {"palette": 0.7}
    scored.project.save()
    client.force_login(scored.users["compliance"])
    response = client.get(url(scored))
    assert response.status_code == 200
    items = {item["d"].key: item for item in response.context["distributions"]}
    assert items["brand.palette"]["threshold"] == 0.7  # the kit's own
    assert items["brand"]["threshold"] == 0.5  # the default
    page = response.content.decode()
    section = page[page.index('id="dist-brand.palette"') :]
    assert "threshold 0.7" in section[: section.index("</section>")]
    assert "data-threshold-marker" in section
    assert "1 approved image scores under it" not in section  # the approved one is all red
    assert "0 approved images score under it" in section
    # Compliance officers see the chart but not the form: setting is for admins.
    assert 'name="threshold"' not in page


def test_a_compliance_officer_may_not_set_a_threshold(client, scored):
    client.force_login(scored.users["compliance"])
    response = client.post(url(scored), {"score": "brand.palette", "threshold": "0.3"})
    assert response.status_code == 403
    scored.project.refresh_from_db()
    assert scored.project.brand_thresholds == {}
    assert not AuditEvent.objects.filter(action="tenancy.project.update").exists()


def test_an_admin_sets_a_threshold_from_the_chart(client, scored):
    client.force_login(scored.users["admin"])
    page = client.get(url(scored)).content.decode()
    assert page.count('name="threshold"') == len(
        [key for key in ("brand", "brand.palette", "brand.descriptors", "brand.alignment")
         if f'id="dist-{key}"' in page]
    )  # fmt: skip
    response = client.post(url(scored), {"score": "brand.palette", "threshold": "0.35"})
    assert response.status_code == 302
    scored.project.refresh_from_db()
    assert scored.project.brand_thresholds == {"palette": 0.35}
    [event] = AuditEvent.objects.filter(action="tenancy.project.update")
    assert event.actor_id == scored.users["admin"].pk
    assert event.data["via"] == "calibration"
    assert event.data["brand_thresholds"] == {"before": {}, "after": {"palette": 0.35}}
    followed = client.get(response["Location"]).content.decode()
    section = followed[followed.index('id="dist-brand.palette"') :]
    assert "threshold 0.35" in section[: section.index("</section>")]
    # A second threshold keeps the first.
    client.post(url(scored), {"score": "brand", "threshold": "0.6"})
    scored.project.refresh_from_db()
    assert scored.project.brand_thresholds == {"palette": 0.35, "score": 0.6}


def test_a_threshold_out_of_range_is_refused_on_its_chart(client, scored):
    client.force_login(scored.users["admin"])
    response = client.post(url(scored), {"score": "brand.palette", "threshold": "1.5"})
    assert response.status_code == 400
    assert "Give a threshold from 0 to 1" in response.content.decode()
    assert client.post(url(scored), {"score": "nudenet.X", "threshold": "0.5"}).status_code == 404
    scored.project.refresh_from_db()
    assert scored.project.brand_thresholds == {}


def test_another_organisations_admin_sees_nothing(client, scored, globex):
    client.force_login(globex.users["admin"])
    assert client.get(url(scored)).status_code == 404
    assert client.post(url(scored), {"score": "brand", "threshold": "0.1"}).status_code == 404
