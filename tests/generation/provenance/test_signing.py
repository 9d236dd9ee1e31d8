"""Signing generated, approved and exported images and verifying them, with real c2pa."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import struct
import zlib

import c2pa
import numpy as np
import pytest
from PIL import Image

from generation.provenance import (
    ApprovalClaim,
    CallbackSigner,
    CertificateProfileError,
    Ingredient,
    ProvenanceError,
    export_signed,
    local_sign_function,
    sign_approved,
    sign_generated,
    verify,
)
from generation.provenance.manifests import (
    IPTC_TRAINED_ALGORITHMIC_MEDIA,
    TRAINING_MINING_LABEL,
)

from .conftest import make_claim, png_bytes, textured_image

WHEN = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def signed_512(image_512, signer):
    return sign_generated(png_bytes(image_512), signer=signer, claim=make_claim(), image=image_512)


def _c2pa_read(data: bytes, anchors: bytes):
    ctx = c2pa.Context.from_dict({"version": 1, "trust": {"trust_anchors": anchors.decode()}})
    return c2pa.Reader("image/png", io.BytesIO(data), None, ctx)


@pytest.mark.parametrize("size", [512, 64])
def test_generated_image_validates_with_c2pa_and_is_trusted(size, signer, anchors):
    im = textured_image(size, seed=size)
    signed = sign_generated(png_bytes(im), signer=signer, claim=make_claim(width=size, height=size))
    with _c2pa_read(signed, anchors) as reader:
        assert reader.get_validation_state() == "Trusted"
        assert reader.get_validation_results()["activeManifest"]["failure"] == []
    report = verify(signed, trust_anchors_pem=anchors)
    assert report.status == "trusted"
    assert report.manifest_present and report.signature_valid and report.trusted
    assert report.hard_binding_valid is True
    # The pixels are untouched by signing.
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(signed))), np.asarray(im))


def test_without_anchors_the_signature_is_valid_but_untrusted(signed_512):
    report = verify(signed_512)
    assert report.signature_valid is True
    assert report.trusted is False
    assert report.failure_codes == ["signingCredential.untrusted"]
    assert report.status == "untrusted"


def test_manifest_records_generation_facts(signed_512, anchors):
    report = verify(signed_512, trust_anchors_pem=anchors)
    created = report.actions[0]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == IPTC_TRAINED_ALGORITHMIC_MEDIA
    assert report.software_agent == "tiny-sd"
    assert report.digital_source_type == IPTC_TRAINED_ALGORITHMIC_MEDIA
    params = report.parameters
    assert params["model"] == "tiny-sd" and params["checkpoint_sha256"] == "ab" * 32
    assert (params["scheduler"], params["steps"], params["guidance_scale"]) == (
        "DDIMScheduler",
        10,
        7.5,
    )
    assert (params["seed"], params["width"], params["height"]) == (1234, 512, 512)
    digest = hashlib.sha256(b"a red circle on a navy background").hexdigest()
    assert params["prompt_sha256"] == digest
    assert "prompt" not in params and "negative_prompt" not in params
    gen = report.generation
    assert gen["request_id"] == "req-42" and gen["project"] == "spring-campaign"
    assert gen["policy_versions"] == {"prompt_policy": 3} and gen["decision"] == "allow"
    assert gen["checks"]["safety"] == {"passed": True, "score": 0.01}
    assert gen["prompt_sha256"] == digest and gen["prompt_included"] is False
    assert report.training_mining["entries"]["cawg.ai_training"]["use"] == "notAllowed"
    assert report.has_thumbnail
    assert report.to_dict()["status"] == "trusted"


def test_thumbnail_is_our_small_jpeg(signed_512, anchors):
    with _c2pa_read(signed_512, anchors) as reader:
        manifest = reader.get_active_manifest()
        assert manifest["thumbnail"]["format"] == "image/jpeg"
        out = io.BytesIO()
        reader.resource_to_stream(manifest["thumbnail"]["identifier"], out)
    thumb = Image.open(io.BytesIO(out.getvalue()))
    assert thumb.format == "JPEG" and max(thumb.size) == 256


def test_prompt_is_embedded_only_when_allowed(image_64, signer, anchors):
    claim = make_claim(
        include_prompt=True,
        training_mining="constrained",
        training_constraint="licensed partners only",
    )
    signed = sign_generated(png_bytes(image_64), signer=signer, claim=claim, thumbnail=False)
    report = verify(signed, trust_anchors_pem=anchors)
    assert report.parameters["prompt"] == "a red circle on a navy background"
    assert report.parameters["negative_prompt"] == "blurry"
    assert report.generation["prompt_included"] is True
    entry = report.training_mining["entries"]["cawg.data_mining"]
    assert entry == {"use": "constrained", "constraint_info": "licensed partners only"}
    assert not report.has_thumbnail


def test_custom_assertion_label_is_used_and_reserved_labels_refused(image_64, signer, anchors):
    claim = make_claim(assertion_label="com.example.genai")
    signed = sign_generated(png_bytes(image_64), signer=signer, claim=claim)
    report = verify(signed, trust_anchors_pem=anchors, generation_label="com.example.genai")
    assert report.generation["request_id"] == "req-42"
    assert report.parameters["model"] == "tiny-sd"
    with pytest.raises(ProvenanceError, match="reverse-domain"):
        make_claim(assertion_label="c2pa.mine")
    assert TRAINING_MINING_LABEL == "cawg.training-mining"


def _flip_one_pixel_byte(png: bytes) -> bytes:
    """Change one byte of pixel data inside the IDAT stream, keeping every other chunk
    (the manifest included) and a decodable PNG: inflate, flip, deflate, fix the CRC."""
    pos, chunks = 8, []
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        chunks.append((kind, png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    idat = b"".join(data for kind, data in chunks if kind == b"IDAT")
    raw = bytearray(zlib.decompress(idat))
    raw[len(raw) // 2 + 1] ^= 0x01  # a pixel byte in a middle scanline
    new_idat = zlib.compress(bytes(raw), 9)
    out, written = bytearray(png[:8]), False
    for kind, data in chunks:
        if kind == b"IDAT":
            if written:
                continue
            data, written = new_idat, True
        out += struct.pack(">I", len(data)) + kind + data
        out += struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return bytes(out)


def test_one_changed_pixel_byte_is_reported_as_tampered(signed_512, anchors):
    tampered = _flip_one_pixel_byte(signed_512)
    before = np.asarray(Image.open(io.BytesIO(signed_512))).astype(int)
    after = np.asarray(Image.open(io.BytesIO(tampered))).astype(int)
    assert np.count_nonzero(before != after) >= 1  # still a readable, changed PNG
    report = verify(tampered, trust_anchors_pem=anchors)
    assert report.manifest_present is True
    assert report.hard_binding_valid is False
    assert report.tampered and report.status == "tampered"
    assert "assertion.dataHash.mismatch" in report.failure_codes


def test_stripped_image_has_no_manifest(signed_512):
    stripped = png_bytes(Image.open(io.BytesIO(signed_512)))
    report = verify(stripped)
    assert report.manifest_present is False and report.status == "absent"
    assert report.to_dict()["tampered"] is False


def test_approval_manifest_has_the_generated_image_as_parent(signed_512, signer, anchors):
    approval = ApprovalClaim(
        approved_at=WHEN,
        approver_role="compliance",
        approver_name="Ada Reviewer",
        stages=["brand", "compliance"],
        request_id="req-42",
    )
    approved = sign_approved(signed_512, signer=signer, approval=approval)
    report = verify(approved, trust_anchors_pem=anchors)
    assert report.status == "trusted"
    assert report.ingredient_failures == []
    (parent,) = report.ingredients
    assert parent["relationship"] == "parentOf"
    assert parent["active_manifest"] == verify(signed_512).active_manifest
    assert report.actions[0]["action"] == "c2pa.opened"
    assert report.approval["action"] == "org.imprimatur.approved"
    assert report.approval["when"] == "2026-05-01T12:00:00Z"
    params = report.approval["parameters"]
    assert params["approver"] == {"role": "compliance"}  # name withheld by default
    assert params["stages"] == ["brand", "compliance"]
    # The generation facts are still reachable through the parent.
    assert report.software_agent == "tiny-sd"
    assert report.generation["request_id"] == "req-42"


def test_approver_name_is_disclosed_only_when_asked(signed_512, signer, anchors):
    approval = ApprovalClaim(
        approved_at=WHEN, approver_role="brand", approver_name="Ada", disclose_name=True
    )
    approved = sign_approved(signed_512, signer=signer, approval=approval)
    report = verify(approved, trust_anchors_pem=anchors)
    assert report.approval["parameters"]["approver"] == {"role": "brand", "name": "Ada"}


@pytest.mark.parametrize(("fmt", "magic"), [("jpeg", b"\xff\xd8"), ("webp", b"RIFF")])
def test_exports_are_signed_after_reencoding(fmt, magic, signed_512, signer, anchors):
    approval = ApprovalClaim(approved_at=WHEN, approver_role="compliance")
    exported = sign_approved(signed_512, signer=signer, approval=approval, fmt=fmt)
    assert exported.startswith(magic)
    report = verify(exported, trust_anchors_pem=anchors)
    assert report.status == "trusted"
    actions = [a["action"] for a in report.actions]
    assert actions == ["c2pa.opened", "c2pa.transcoded", "org.imprimatur.approved"]
    plain = export_signed(signed_512, fmt, signer=signer)
    assert verify(plain, trust_anchors_pem=anchors).approval is None


def test_callback_signer_signs_and_verifies(pki, image_64, anchors):
    key_pem = pki.signer_key.read_bytes()
    calls = []

    def kms_sign(data: bytes) -> bytes:
        calls.append(len(data))
        return local_sign_function(key_pem)(data)

    signer = CallbackSigner(kms_sign, pki.signer_chain.read_bytes(), "es256")
    signed = sign_generated(png_bytes(image_64), signer=signer, claim=make_claim())
    report = verify(signed, trust_anchors_pem=anchors)
    assert report.status == "trusted"
    assert len(calls) >= 2  # the probe, then the claim signature
    assert "CallbackSigner" in repr(signer)


def test_callback_signer_with_the_wrong_key_is_refused(pki):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(CertificateProfileError) as excinfo:
        CallbackSigner(local_sign_function(other), pki.signer_chain.read_bytes(), "es256")
    assert excinfo.value.rule == "key_mismatch"


def test_image_to_image_and_inpainting_record_the_init_image(signed_512, image_64, signer, anchors):
    init = Ingredient(data=signed_512, format="image/png", title="init.png")
    i2i = sign_generated(
        png_bytes(image_64),
        signer=signer,
        claim=make_claim(mode="image-to-image"),
        ingredient=init,
    )
    report = verify(i2i, trust_anchors_pem=anchors)
    assert report.status == "trusted"
    assert report.ingredients[0]["relationship"] == "inputTo"
    assert report.ingredients[0]["active_manifest"]  # the init image's own manifest came along
    assert report.actions[0]["action"] == "c2pa.created"

    inpaint = sign_generated(
        png_bytes(image_64),
        signer=signer,
        claim=make_claim(mode="inpainting"),
        ingredient=init,
    )
    report = verify(inpaint, trust_anchors_pem=anchors)
    assert report.status == "trusted"
    assert report.ingredients[0]["relationship"] == "parentOf"
    assert [a["action"] for a in report.actions] == ["c2pa.opened", "c2pa.edited"]
    assert report.software_agent == "tiny-sd"


def test_non_png_input_is_refused(signer):
    with pytest.raises(ProvenanceError, match="PNG"):
        sign_generated(b"GIF89a....", signer=signer, claim=make_claim())
