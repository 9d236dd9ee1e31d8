"""Verification tells an asset's internal facts (organisation, project, request, status) only
to members of its organisation, and only for a trusted signature or a fingerprint match;
a manifest forged under another CA names nothing; decoding is bounded like uploads."""

import io
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from generation.jobs import signing
from generation.provenance import LocalSigner, create_development_pki
from tests.generation.jobs.test_provenance_flow import generated, read

pytestmark = pytest.mark.django_db
API = "/api/v1/provenance/verify/"


def verify_as(tenant, role: str, data: bytes):
    client = tenant.client(role)
    return client.post(API, {"image": SimpleUploadedFile("image.png", data)}, format="multipart")


def test_a_genuine_image_is_identified_to_its_own_organisation_only(acme, globex, tiny_model_path):
    asset = generated(acme)
    signed = read(asset)
    own = verify_as(acme, "reviewer", signed).json()
    assert (
        own["asset"]["asset"] == asset.pk and own["asset"]["organization"] == acme.organization.name
    )
    other = verify_as(globex, "reviewer", signed)
    assert other.status_code == 200
    body = other.content.decode()
    assert other.json()["asset"] is None
    assert other.json()["report"]["status"] == "trusted"  # what the manifest proves, for all
    for fact in (acme.organization.name, acme.project.name, f"request {asset.request_id}"):
        assert fact not in other.json()["summary"]
    assert acme.project.name not in body


def test_a_stripped_copy_is_matched_for_members_only(acme, globex, tiny_model_path):
    asset = generated(acme)
    stripped = io.BytesIO()
    Image.open(io.BytesIO(read(asset))).convert("RGB").save(stripped, format="JPEG", quality=85)
    own = verify_as(acme, "creator", stripped.getvalue()).json()
    assert own["asset"]["found_by"] == "perceptual hash"
    assert verify_as(globex, "admin", stripped.getvalue()).json()["asset"] is None


def test_a_manifest_forged_under_another_ca_names_nothing(
    acme, globex, tiny_model_path, tmp_path, monkeypatch
):
    """A home-made CA signs a manifest naming a real request of Acme (the probe's forgery)."""
    asset = generated(acme)
    pki = create_development_pki(tmp_path / "forger")
    forger = LocalSigner(pki.signer_chain.read_bytes(), pki.signer_key.read_bytes())
    monkeypatch.setattr(signing, "signer_load", lambda: forger)  # the forger's own signer
    noise = Image.effect_noise((64, 64), 80).convert("RGB")
    forged = signing.image_sign(asset.request, index=0, image=noise, result=None)["png"]
    monkeypatch.undo()
    for tenant, role in ((globex, "reviewer"), (acme, "reviewer")):
        answer = verify_as(tenant, role, forged).json()
        assert answer["report"]["status"] == "untrusted"
        assert answer["asset"] is None, (tenant.organization, answer["asset"])


def test_a_quarantined_image_is_identified_only_to_who_may_see_it(acme, tiny_model_path):
    asset = generated(acme)
    asset.quarantined = True
    asset.save(update_fields=["quarantined"])
    assert verify_as(acme, "creator", read(asset)).json()["asset"] is None
    assert verify_as(acme, "compliance", read(asset)).json()["asset"]["asset"] == asset.pk


def test_a_huge_image_is_refused_before_it_is_decoded(acme):
    big = io.BytesIO()
    Image.new("RGB", (8000, 8000), "white").save(big, format="PNG")
    started = time.monotonic()
    response = verify_as(acme, "reviewer", big.getvalue())
    assert response.status_code == 400
    assert "4096" in response.content.decode()
    assert time.monotonic() - started < 5
