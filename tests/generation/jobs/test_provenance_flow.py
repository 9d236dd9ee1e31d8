"""Provenance in the platform: every generated image is stored with a valid, trusted C2PA
manifest carrying the request, policy decision and checks; approval signs a published file
with the approval in it; the verify page and API tell signed, tampered, stripped and
foreign images apart, and find a stripped image's asset by its perceptual hash."""

import io
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generation.jobs import dispatch, signing, worker
from generation.jobs.models import Asset
from generation.provenance import verify
from governance.reviews.models import Review
from governance.reviews.services import task_decide
from tests.generation.jobs.factories import GenerationJobFactory

pytestmark = pytest.mark.django_db


def generated(tenant, **request):
    job = GenerationJobFactory(
        request__project=tenant.project,
        request__created_by=tenant.users["creator"],
        request__steps=2,
        **{f"request__{key}": value for key, value in request.items()},
    )
    worker.generation_job_run(job_id=job.pk)
    return Asset.objects.get(job=job)


def read(asset, field="image") -> bytes:
    with getattr(asset, field).open("rb") as handle:
        return handle.read()


def flip_a_pixel_byte(png: bytes) -> bytes:
    """Change one pixel byte of the image data and re-compress it, keeping every other chunk
    (the manifest too): the PNG still decodes, but no longer matches its signature's hash."""
    position, chunks = 8, []
    while position < len(png):
        length = int.from_bytes(png[position : position + 4], "big")
        chunks.append((png[position + 4 : position + 8], png[position + 8 : position + 8 + length]))
        position += 12 + length
    raw = bytearray(zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT")))
    raw[len(raw) // 2 + 1] ^= 0x01  # one past a scanline's filter byte: a pixel byte
    out, written = bytearray(png[:8]), False
    for kind, body in chunks:
        if kind == b"IDAT":
            if written:
                continue
            body, written = zlib.compress(bytes(raw)), True
        out += len(body).to_bytes(4, "big") + kind + body
        out += zlib.crc32(kind + body).to_bytes(4, "big")
    return bytes(out)


def test_a_generated_image_carries_a_trusted_manifest(acme, tiny_model_path):
    asset = generated(acme, policy_outcome="allow", policy_versions=[7])
    report = verify(
        read(asset),
        trust_anchors_pem=signing.trust_anchors(),
        generation_label="org.imprimatur.generation",
    ).to_dict()
    assert report["status"] == "trusted", report["failures"]
    assert report["digital_source_type"].endswith("trainedAlgorithmicMedia")
    generation = report["generation"]
    assert generation["request_id"] == str(asset.request_id)
    assert generation["asset_id"] == f"{asset.request_id}:0"
    assert generation["decision"] == "allow" and generation["policy_versions"] == {"ids": ["7"]}
    assert generation["checks"]["verdict"] == asset.check_verdict
    assert "prompt" not in report["parameters"] and report["parameters"]["prompt_sha256"]
    assert asset.phash and asset.provenance["signed"] and asset.watermark_id == ""  # 64 px


def test_the_prompt_goes_in_only_when_the_project_allows(acme, tiny_model_path):
    acme.project.provenance_include_prompt = True
    acme.project.save()
    asset = generated(acme)
    report = verify(read(asset), trust_anchors_pem=signing.trust_anchors()).to_dict()
    assert report["parameters"]["prompt"] == asset.request.prompt


def test_approval_signs_a_published_file(
    acme, tiny_model_path, django_capture_on_commit_callbacks, monkeypatch
):
    asset = generated(acme)
    review = Review.objects.get(kind="asset", object_id=asset.pk)
    sent = []  # a fake broker: what would be sent, by task name
    monkeypatch.setattr(dispatch, "send_now", lambda name, **message: sent.append((name, message)))
    with django_capture_on_commit_callbacks(execute=True):
        for stage in range(len(review.stages)):
            task = review.tasks.get(stage_index=stage)
            user = acme.users["reviewer"] if task.role == "reviewer" else acme.users["compliance"]
            task_decide(task=task, user=user, decision="approve")
    # The approval sends the publishing task once the decision commits.
    assert sent == [(dispatch.PUBLISH_APPROVED_ASSET, {"args": [asset.pk], "queue": "default"})]
    signing.asset_publish(asset.pk)  # what the worker's task runs
    asset.refresh_from_db()
    report = verify(read(asset, "published_image"), trust_anchors_pem=signing.trust_anchors())
    report = report.to_dict()
    assert report["status"] == "trusted"
    approval = report["approval"]["parameters"]
    # The last approver's role (no name: the project does not disclose it), every stage.
    assert approval["approver"] == {"role": review.tasks.order_by("-stage_index")[0].role}
    assert approval["stages"] == [stage["name"] for stage in review.stages]
    assert report["generation"]["asset_id"] == f"{asset.request_id}:0"  # through the parent


def test_verify_tells_signed_tampered_stripped_and_foreign_apart(client, acme, tiny_model_path):
    asset = generated(acme)
    signed = read(asset)
    client.force_login(acme.users["auditor"])

    def check(data: bytes, name="image.png"):
        response = client.post("/verify/", {"image": SimpleUploadedFile(name, data)})
        assert response.status_code == 200, response.content[:500]
        return response.context["result"]

    result = check(signed)
    assert result["report"]["status"] == "trusted"
    assert result["asset"]["asset"] == asset.pk and result["asset"]["found_by"] == "manifest"
    assert "It has a valid C2PA manifest" in result["summary"]

    tampered = check(flip_a_pixel_byte(signed))
    assert tampered["report"]["status"] == "tampered"

    stripped = io.BytesIO()
    Image.open(io.BytesIO(signed)).convert("RGB").save(stripped, format="JPEG", quality=85)
    found = check(stripped.getvalue())
    assert found["report"]["status"] == "absent"
    assert found["asset"]["asset"] == asset.pk and found["asset"]["found_by"] == "perceptual hash"

    skimage_data = pytest.importorskip("skimage.data")
    foreign = io.BytesIO()
    Image.fromarray(skimage_data.chelsea()).save(foreign, format="PNG")
    other = check(foreign.getvalue())
    assert other["asset"] is None and "matches no image of your organisations" in other["summary"]

    response = client.post("/verify/", {"image": SimpleUploadedFile("x.png", b"not an image")})
    assert response.status_code == 400 and "not an image" in response.content.decode()


def test_the_verify_api_is_for_members_unless_made_public(client, acme, tiny_model_path, settings):
    asset = generated(acme)
    url = "/api/v1/provenance/verify/"
    assert client.post(url, {"image": SimpleUploadedFile("a.png", read(asset))}).status_code in (
        401,
        403,
    )
    assert client.get("/verify/").status_code == 302  # to the login page
    settings.IMPRIMATUR_PUBLIC_VERIFY = True
    response = client.post(url, {"image": SimpleUploadedFile("a.png", read(asset))})
    assert response.status_code == 200 and response.json()["report"]["status"] == "trusted"
    settings.IMPRIMATUR_VERIFY_PER_MINUTE = 1
    assert client.post(url, {"image": SimpleUploadedFile("a.png", read(asset))}).status_code == 429


def test_exports_are_signed_after_re_encoding(client, acme, tiny_model_path):
    asset = generated(acme)
    client.force_login(acme.users["creator"])
    for fmt, mime in (("jpeg", "image/jpeg"), ("webp", "image/webp")):
        response = client.get(f"/assets/{asset.pk}/export/{fmt}/")
        assert response.status_code == 200 and response["Content-Type"] == mime
        report = verify(response.content, trust_anchors_pem=signing.trust_anchors()).to_dict()
        assert report["status"] == "trusted", report["failures"]
        assert "c2pa.transcoded" in [action["action"] for action in report["actions"]]
        assert report["generation"]["asset_id"] == f"{asset.request_id}:0"  # via the parent
    assert client.get(f"/assets/{asset.pk}/export/gif/").status_code == 404
