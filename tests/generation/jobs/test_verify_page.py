"""The verify page: the IPTC source type in words (its URL only as a link), a preview of the
verified image, and — in a real browser — a preview of the chosen file and a progress bar
while it uploads and is verified, from a static script (nothing inline)."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generation.jobs import signing
from tests.browser import SCREENSHOTS, needs_browser
from tests.generation.jobs.factories import GenerationRequestFactory
from tests.imprimatur.tenancy.factories import PASSWORD

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def signed_png(tenant) -> bytes:
    """A painted image signed as this platform signs a generated one (real C2PA, dev PKI)."""
    request = GenerationRequestFactory(project=tenant.project, created_by=tenant.users["creator"])
    image = Image.new("RGB", (64, 64), (0xD7, 0x23, 0x23))
    return signing.image_sign(request, index=0, image=image, result=None)["png"]


def test_source_types_are_words():
    assert signing.source_type_words(TRAINED) == {
        "label": "Trained algorithmic media",
        "url": TRAINED,
    }
    unknown = signing.source_type_words("http://cv.iptc.org/newscodes/digitalsourcetype/newKind")
    assert unknown["label"] == "New kind"
    assert signing.source_type_words(None) is None


@pytest.mark.django_db
def test_the_page_says_the_source_in_words_and_shows_the_image(client, acme):
    client.force_login(acme.users["creator"])
    response = client.post("/verify/", {"image": SimpleUploadedFile("a.png", signed_png(acme))})
    assert response.status_code == 200
    page = response.content.decode()
    source = page[page.index("data-source-type") :][:400]
    assert "Trained algorithmic media" in source
    assert f'href="{TRAINED}"' in source  # the URL only as a link
    assert page.count(TRAINED) == 1
    assert 'src="data:image/webp;base64,' in page and "data-verified-preview" in page
    preview = response.context["preview"]
    import base64

    thumbnail = Image.open(io.BytesIO(base64.b64decode(preview.split(",", 1)[1])))
    assert thumbnail.format == "WEBP" and max(thumbnail.size) <= signing.PREVIEW_SIDE
    assert "prompt policy: allowed" in page and "policy decision allow" not in page
    assert "<script>" not in page and 'src="/static/web/verify.js"' in page


@needs_browser[0]
@needs_browser[1]
def test_preview_and_progress_in_a_browser(transactional_db, live_server, acme, browser_page):
    png = signed_png(acme)
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-creator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/verify/")
    assert page.locator("[data-verify-preview]").is_hidden()
    page.set_input_files(
        "#verify-image", files=[{"name": "red.png", "mimeType": "image/png", "buffer": png}]
    )
    preview = page.locator("[data-verify-preview-image]")
    preview.wait_for(state="visible")
    assert preview.get_attribute("src").startswith("blob:")
    assert page.evaluate("document.querySelector('[data-verify-preview-image]').naturalWidth") == 64
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "verify-preview.png"), full_page=True)
    # Whether the progress bar showed, however fast the answer comes back.
    page.evaluate(
        """() => { window.sawProgress = "";
          new MutationObserver(() => {
            const box = document.querySelector("[data-verify-progress]");
            if (box && !box.hidden) window.sawProgress = box.textContent.trim();
          }).observe(document.body, {subtree: true, attributes: true, childList: true,
                                     characterData: true}); }"""
    )
    page.get_by_role("button", name="Verify").click()
    page.locator("[data-source-type]").wait_for(timeout=30000)
    assert page.evaluate("window.sawProgress").startswith(("Uploading", "Checking"))
    assert "Trained algorithmic media" in page.locator("[data-source-type]").inner_text()
    assert page.locator("[data-verified-preview]").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "verify-result.png"), full_page=True)
    # The fresh form works again: choosing another file shows its preview.
    page.set_input_files(
        "#verify-image", files=[{"name": "red.png", "mimeType": "image/png", "buffer": png}]
    )
    page.locator("[data-verify-preview-image]").wait_for(state="visible")
