"""The brand kit: its services (admins only, validated, audited), its page (editable for
admins, read-only for the other members) and PATCH in the API."""

import dataclasses
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from skimage import data as skimage_data

from governance.audit.models import AuditEvent
from imprimatur.tenancy import services
from imprimatur.tenancy.models import BrandReferenceImage
from imprimatur.web.forms import BRAND_THRESHOLD_DEFAULTS
from tests.browser import SCREENSHOTS, needs_browser
from tests.imprimatur.tenancy.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def coffee_png(side: int = 64) -> bytes:
    image = Image.fromarray(skimage_data.coffee()).resize((side, side))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def upload(content: bytes, name: str = "coffee.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def events(action: str):
    return AuditEvent.objects.filter(action=action)


def page_data(**overrides) -> dict:
    """What the brand kit form posts when nothing is changed but the overrides."""
    data = {
        "description": "Spring campaign",
        "palette": "#1F3A93\n#F2C14E",
        "on_brand_descriptors": "clean flat shapes",
        "off_brand_descriptors": "gloomy",
        **{f"threshold_{key}": "" for key in BRAND_THRESHOLD_DEFAULTS},
    }
    return data | overrides


# -- Services ----------------------------------------------------------------------------------


def test_threshold_defaults_shown_match_the_checks():
    from generation.checks.brand import BrandThresholds

    assert dataclasses.asdict(BrandThresholds()) == BRAND_THRESHOLD_DEFAULTS


def test_admin_updates_the_brand_kit_with_one_audit_event(acme):
    project = services.project_brand_update(
        project=acme.project,
        user=acme.users["admin"],
        palette=["#112233"],
        brand_thresholds={"score": 0.7},
        likeness_review=True,
        off_brand_descriptors=["gloomy"],  # unchanged: not named as changed
    )
    project.refresh_from_db()
    assert project.palette == ["#112233"]
    assert project.brand_thresholds == {"score": 0.7}
    assert project.likeness_review is True
    event = events("tenancy.project.update").get()
    assert event.actor_name == "acme-admin"
    assert event.organization == acme.organization
    assert event.target_id == str(project.pk)
    assert event.data == {
        "fields": ["palette", "brand_thresholds", "likeness_review"],
        "brand_thresholds": {"before": {}, "after": {"score": 0.7}},
        "likeness_review": {"before": False, "after": True},
        "project": project.slug,
    }


def test_an_update_that_changes_nothing_writes_no_event(acme):
    services.project_brand_update(
        project=acme.project, user=acme.users["admin"], palette=list(acme.project.palette)
    )
    assert not events("tenancy.project.update").exists()


@pytest.mark.parametrize("role", ["creator", "reviewer", "compliance", "auditor"])
def test_only_admins_update_the_brand_kit(acme, role):
    with pytest.raises(PermissionDenied):
        services.project_brand_update(
            project=acme.project, user=acme.users[role], palette=["#000000"]
        )
    acme.project.refresh_from_db()
    assert acme.project.palette == ["#1F3A93", "#F2C14E"]
    assert not events("tenancy.project.update").exists()


def test_admin_of_another_organisation_cannot_update(acme, globex):
    with pytest.raises(PermissionDenied):
        services.project_brand_update(
            project=acme.project, user=globex.users["admin"], likeness_review=True
        )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"palette": ["#12345"]}, "palette"),
        ({"palette": ["red"]}, "palette"),
        ({"brand_thresholds": {"score": 1.5}}, "brand_thresholds"),
        ({"brand_thresholds": {"delta_e": 120}}, "brand_thresholds"),
        ({"brand_thresholds": {"scor": 0.5}}, "brand_thresholds"),
        ({"off_brand_descriptors": []}, "off_brand_descriptors"),
    ],
)
def test_invalid_brand_kit_is_refused_with_the_field(acme, changes, field):
    with pytest.raises(ValidationError) as raised:
        services.project_brand_update(project=acme.project, user=acme.users["admin"], **changes)
    assert field in raised.value.message_dict
    acme.project.refresh_from_db()
    assert acme.project.brand_thresholds == {}
    assert acme.project.palette == ["#1F3A93", "#F2C14E"]
    assert acme.project.off_brand_descriptors == ["gloomy"]
    assert not events("tenancy.project.update").exists()


def test_admin_adds_and_removes_a_reference_image(acme, django_capture_on_commit_callbacks):
    reference = services.reference_image_add(
        project=acme.project,
        user=acme.users["admin"],
        image_file=upload(coffee_png()),
        caption=" Morning coffee ",
    )
    assert reference.caption == "Morning coffee"
    assert reference.embedding is None
    with reference.image.open("rb") as stored:
        image = Image.open(stored)
        assert image.format == "PNG" and image.size == (64, 64) and image.mode == "RGB"
    added = events("tenancy.reference.add").get()
    assert added.target_id == str(reference.pk)
    assert added.data["caption"] == "Morning coffee"

    # Asked of the storage, not the disk: the suite may run on S3 (IMPRIMATUR_TEST_S3).
    pk, name, storage = reference.pk, reference.image.name, reference.image.storage
    with pytest.raises(PermissionDenied):
        services.reference_image_remove(reference=reference, user=acme.users["compliance"])
    assert storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        services.reference_image_remove(reference=reference, user=acme.users["admin"])
    assert not BrandReferenceImage.objects.filter(pk=pk).exists()
    assert not storage.exists(name)  # the file goes once the removal is committed
    removed = events("tenancy.reference.remove").get()
    assert removed.target_id == str(pk) and removed.data["file"] == added.data["file"]
    assert removed.actor_name == "acme-admin"


def test_a_jpeg_reference_is_stored_as_png(acme):
    out = io.BytesIO()
    Image.fromarray(skimage_data.coffee()).resize((40, 30)).save(out, format="JPEG")
    reference = services.reference_image_add(
        project=acme.project, user=acme.users["admin"], image_file=upload(out.getvalue(), "a.jpg")
    )
    assert reference.image.name.endswith(".png")
    with reference.image.open("rb") as stored:
        assert Image.open(stored).format == "PNG"


def test_an_upload_that_is_not_an_image_is_refused(acme):
    with pytest.raises(ValidationError) as raised:
        services.reference_image_add(
            project=acme.project, user=acme.users["admin"], image_file=upload(b"hello")
        )
    assert raised.value.message_dict == {
        "image": ["This file was refused: it is not a PNG, JPEG or WebP image."]
    }
    assert not BrandReferenceImage.objects.exists()
    assert not events("tenancy.reference.add").exists()


def test_an_oversized_upload_is_refused(acme, settings):
    too_many_bytes = b"\x89PNG\r\n\x1a\n" + b"\0" * services.MAX_REFERENCE_BYTES
    with pytest.raises(ValidationError, match="the limit is 10 MB"):
        services.reference_image_add(
            project=acme.project, user=acme.users["admin"], image_file=upload(too_many_bytes)
        )
    out = io.BytesIO()
    Image.new("L", (4097, 8)).save(out, format="PNG")
    too_wide = "4097\N{MULTIPLICATION SIGN}8 pixels; the limit is 4096 pixels a side"
    with pytest.raises(ValidationError, match=too_wide):
        services.reference_image_add(
            project=acme.project, user=acme.users["admin"], image_file=upload(out.getvalue())
        )
    assert not BrandReferenceImage.objects.exists()


def test_only_admins_add_reference_images(acme):
    with pytest.raises(PermissionDenied):
        services.reference_image_add(
            project=acme.project, user=acme.users["creator"], image_file=upload(coffee_png())
        )
    assert not BrandReferenceImage.objects.exists()


# -- The page ----------------------------------------------------------------------------------


def url(tenant) -> str:
    return f"/projects/{tenant.project.slug}/brand/"


def logged_in(client, user):
    client.force_login(user)
    return client


def test_admin_sees_the_kit_as_a_form(client, acme):
    acme.project.brand_thresholds = {"score": 0.65}
    acme.project.save()
    reference = BrandReferenceImage.objects.create(
        project=acme.project, image="brand/x.png", caption="Blue wall", embedding=[0.1]
    )
    BrandReferenceImage.objects.create(project=acme.project, image="brand/y.png", caption="Dusk")
    page = logged_in(client, acme.users["admin"]).get(url(acme)).content.decode()
    assert '<form method="post" novalidate class="brand-kit-form">' in page
    assert "#1F3A93\n#F2C14E</textarea>" in page
    assert 'name="threshold_score" value="0.65"' in page
    assert 'placeholder="0.6"' in page and "Empty: the default, 0.6." in page
    assert f"/projects/{acme.project.slug}/calibration/" in page
    assert f"/reference-images/{reference.pk}/" in page
    assert "Blue wall" in page and "embedded" in page
    assert "Dusk" in page and "waiting for a worker" in page
    assert page.count(">Remove</button>") == 2
    assert 'enctype="multipart/form-data"' in page


def test_admin_saves_the_kit(client, acme):
    response = logged_in(client, acme.users["admin"]).post(
        url(acme),
        page_data(
            palette="#1f3a93\n\nF2C14E\n#00AA55",
            threshold_score="0.7",
            threshold_delta_e="12",
            likeness_review="on",
            on_brand_descriptors="clean flat shapes\nbright daylight",
        ),
        follow=True,
    )
    # The brand kit of this organisation (another may use the slug too).
    assert response.redirect_chain == [(url(acme) + "?organization=acme-org", 302)]
    assert "The brand kit was saved." in response.content.decode()
    acme.project.refresh_from_db()
    assert acme.project.palette == ["#1F3A93", "#F2C14E", "#00AA55"]
    assert acme.project.brand_thresholds == {"score": 0.7, "delta_e": 12.0}
    assert acme.project.likeness_review is True
    assert acme.project.on_brand_descriptors == ["clean flat shapes", "bright daylight"]
    assert events("tenancy.project.update").count() == 1


def test_errors_are_shown_next_to_the_field_and_nothing_typed_is_lost(client, acme):
    response = logged_in(client, acme.users["admin"]).post(
        url(acme),
        page_data(
            palette="#1F3A93\n#GGGGGG",
            threshold_score="1.5",
            description="A new description",
            on_brand_descriptors="sunny\nfriendly",
        ),
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Line 2: “#GGGGGG” is not a colour like #1F3A93." in page
    assert "Ensure this value is less than or equal to 1." in page
    assert "#1F3A93\n#GGGGGG</textarea>" in page
    assert 'name="threshold_score" value="1.5"' in page
    assert "A new description</textarea>" in page
    assert "sunny\nfriendly</textarea>" in page
    acme.project.refresh_from_db()
    assert acme.project.palette == ["#1F3A93", "#F2C14E"] and acme.project.description == ""
    assert not events("tenancy.project.update").exists()


def test_one_sided_descriptors_are_an_error_on_the_empty_side(client, acme):
    response = logged_in(client, acme.users["admin"]).post(
        url(acme), page_data(off_brand_descriptors="")
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Give descriptors on both sides or on neither" in page
    acme.project.refresh_from_db()
    assert acme.project.off_brand_descriptors == ["gloomy"]


@pytest.mark.parametrize("role", ["compliance", "reviewer", "creator", "auditor"])
def test_other_members_see_the_kit_read_only(client, acme, role):
    acme.project.brand_thresholds = {"palette": 0.4}
    acme.project.save()
    client = logged_in(client, acme.users[role])
    response = client.get(url(acme))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<form" not in page.split('id="main"')[1]  # no form in the page's content
    assert "#1F3A93" in page and "gloomy" in page
    assert "0.4" in page and "(default)" in page
    assert "Only admins of acme Org change it." in page
    # Calibration is for compliance officers (and admins) only.
    assert ("/calibration/" in page) == (role == "compliance")
    assert client.post(url(acme), page_data(palette="#000000")).status_code == 403
    acme.project.refresh_from_db()
    assert acme.project.palette == ["#1F3A93", "#F2C14E"]


def test_another_organisation_gets_404(client, acme, globex):
    client = logged_in(client, globex.users["admin"])
    assert client.get(url(acme)).status_code == 404
    assert client.post(url(acme), page_data()).status_code == 404
    assert client.post(f"{url(acme)}references/", {}).status_code == 404


def test_admin_uploads_and_removes_a_reference_on_the_page(client, acme):
    client = logged_in(client, acme.users["admin"])
    response = client.post(
        f"{url(acme)}references/", {"image": upload(coffee_png()), "caption": "Coffee"}
    )
    assert response.status_code == 302
    reference = BrandReferenceImage.objects.get()
    assert reference.caption == "Coffee"
    page = client.get(url(acme)).content.decode()
    assert "waiting for a worker" in page

    response = client.post(f"{url(acme)}references/{reference.pk}/remove/")
    assert response.status_code == 302
    assert not BrandReferenceImage.objects.exists()


def test_a_bad_upload_shows_the_reason_and_keeps_the_caption(client, acme):
    response = logged_in(client, acme.users["admin"]).post(
        f"{url(acme)}references/", {"image": upload(b"hello"), "caption": "Not a picture"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "This file was refused: it is not a PNG, JPEG or WebP image." in page
    assert 'value="Not a picture"' in page
    assert not BrandReferenceImage.objects.exists()


def test_non_admins_cannot_upload_or_remove(client, acme):
    reference = BrandReferenceImage.objects.create(project=acme.project, image="brand/x.png")
    client = logged_in(client, acme.users["compliance"])
    assert (
        client.post(f"{url(acme)}references/", {"image": upload(coffee_png())}).status_code == 403
    )
    assert client.post(f"{url(acme)}references/{reference.pk}/remove/").status_code == 403
    assert BrandReferenceImage.objects.count() == 1


def test_the_project_page_and_list_link_the_brand_kit(client, acme):
    client = logged_in(client, acme.users["creator"])
    assert url(acme) in client.get(f"/projects/{acme.project.slug}/").content.decode()
    assert url(acme) in client.get("/projects/").content.decode()


# -- The API -----------------------------------------------------------------------------------


def api_url(tenant) -> str:
    return f"/api/v1/projects/{tenant.project.slug}/"


def test_get_shows_thresholds_and_likeness(acme):
    body = acme.client("creator").get(api_url(acme)).json()
    assert body["brand_thresholds"] == {} and body["likeness_review"] is False


def test_admin_patches_the_brand_kit(acme):
    response = acme.client("admin").patch(
        api_url(acme),
        {"brand_thresholds": {"score": 0.55}, "likeness_review": True, "palette": ["#ABCDEF"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["brand_thresholds"] == {"score": 0.55}
    assert body["likeness_review"] is True and body["palette"] == ["#ABCDEF"]
    assert body["on_brand_descriptors"] == ["clean flat shapes"]  # left out: unchanged
    assert events("tenancy.project.update").count() == 1


@pytest.mark.parametrize("role", ["creator", "compliance"])
def test_non_admins_cannot_patch(acme, role):
    response = acme.client(role).patch(api_url(acme), {"likeness_review": True}, format="json")
    assert response.status_code == 403
    acme.project.refresh_from_db()
    assert acme.project.likeness_review is False


def test_patch_from_another_organisation_is_404(acme, globex):
    response = globex.client("admin").patch(api_url(acme), {"likeness_review": True}, format="json")
    assert response.status_code == 404


def test_patch_with_a_bad_threshold_is_400_naming_the_field(acme):
    response = acme.client("admin").patch(
        api_url(acme), {"brand_thresholds": {"score": 2}}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {"brand_thresholds": ["The score threshold is a number from 0 to 1."]}
    assert not events("tenancy.project.update").exists()


# -- In a browser ------------------------------------------------------------------------------


def browser_test(function):
    """The marks of `needs_browser`, on one test of a module that is not all browser tests."""
    for mark in needs_browser:
        function = mark(function)
    return function


@browser_test
def test_admin_edits_the_kit_in_a_browser(transactional_db, live_server, acme, browser_page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Projects").first.click()
    page.get_by_role("link", name="Brand kit").first.click()
    page.get_by_role("heading", name="Brand kit", exact=True).wait_for()

    page.get_by_label("Brand score", exact=True).fill("0.62")
    page.locator("#palette-picker").fill("#2a9d8f")
    page.get_by_role("button", name="Add", exact=True).click()
    assert page.locator("#palette-preview li").count() == 3
    page.get_by_role("button", name="Save the brand kit").click()
    page.get_by_text("The brand kit was saved.").wait_for()

    image_path = SCREENSHOTS.parent / "brand-kit-coffee.png"
    image_path.write_bytes(coffee_png(160))
    page.get_by_label("Image file", exact=True).set_input_files(str(image_path))
    page.get_by_label("Caption", exact=True).fill("Morning coffee, warm light")
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("The reference image was added.").wait_for()
    page.get_by_text("waiting for a worker").wait_for()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.reference-grid img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    image_path.unlink()

    acme.project.refresh_from_db()
    assert acme.project.brand_thresholds == {"score": 0.62}
    assert acme.project.palette == ["#1F3A93", "#F2C14E", "#2A9D8F"]
    assert BrandReferenceImage.objects.get().caption == "Morning coffee, warm light"
    page.screenshot(path=SCREENSHOTS / "brand-kit.png", full_page=True)
