"""The development PKI and the C2PA certificate-profile rules, with real certificates."""

from __future__ import annotations

import datetime as dt
import pickle
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generation.provenance import (
    CertificateProfileError,
    LocalSigner,
    ProvenanceError,
    create_development_pki,
    validate_chain,
)

NOW = dt.datetime.now(dt.UTC)
PEM = serialization.Encoding.PEM


def _key_pem(key) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def build_chain(
    *,
    self_signed=False,
    ca=False,
    digital_signature=True,
    ekus=(ExtendedKeyUsageOID.EMAIL_PROTECTION,),
    aki=True,
    not_before=NOW - dt.timedelta(days=1),
    not_after=NOW + dt.timedelta(days=30),
    curve=None,
    other_key=False,
    wrong_issuer_key=False,
):
    """An end-entity chain meeting the profile unless one knob breaks one rule.

    Returns (chain_pem, key_pem, root_pem). The chain is [end entity, root].
    """
    root_key = ec.generate_private_key(ec.SECP256R1())
    curve = curve or ec.SECP256R1()
    ee_key = ec.generate_private_key(curve)
    root_name = _name("Test root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=10))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    subject = root_name if self_signed else _name("Test signer")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed else root_name)
        .public_key(ee_key.public_key())
        .serial_number(2)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=False,
                key_encipherment=not digital_signature,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
    if aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
    signing_key = ee_key if self_signed else root_key
    if wrong_issuer_key:
        signing_key = ec.generate_private_key(ec.SECP256R1())
    ee = builder.sign(signing_key, hashes.SHA256())
    key = ec.generate_private_key(curve) if other_key else ee_key
    chain = ee.public_bytes(PEM) + root.public_bytes(PEM)
    return chain, _key_pem(key), root.public_bytes(PEM)


def test_development_pki_meets_the_c2pa_profile(pki):
    profile = validate_chain(
        pki.signer_chain.read_bytes(),
        pki.signer_key.read_bytes(),
        trust_anchors_pem=pki.root.read_bytes(),
    )
    assert profile.algorithm == "es256"
    assert profile.anchored is True
    assert "emailProtection" in profile.extended_key_usages
    assert stat.S_IMODE(pki.signer_key.stat().st_mode) == 0o600
    root = x509.load_pem_x509_certificate(pki.root.read_bytes())
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert root.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    ee = x509.load_pem_x509_certificate(pki.signer_chain.read_bytes())
    ku = ee.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature
    assert ee.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert profile.to_dict()["not_after"] == ee.not_valid_after_utc.isoformat()


def test_development_pki_is_not_overwritten_unless_asked(tmp_path):
    first = create_development_pki(tmp_path)
    key = first.signer_key.read_bytes()
    again = create_development_pki(tmp_path)
    assert again.signer_key.read_bytes() == key
    renewed = create_development_pki(tmp_path, overwrite=True)
    assert renewed.signer_key.read_bytes() != key


def test_partial_development_pki_is_refused(tmp_path):
    create_development_pki(tmp_path)
    (tmp_path / "signer-chain.pem").unlink()
    with pytest.raises(ProvenanceError, match="incomplete"):
        create_development_pki(tmp_path)


def test_a_well_formed_chain_with_the_root_included_is_accepted():
    chain, key, root = build_chain()
    profile = validate_chain(chain, key, trust_anchors_pem=root)
    assert profile.chain_length == 2 and profile.anchored is True


@pytest.mark.parametrize(
    ("knobs", "rule"),
    [
        ({"self_signed": True}, "end_entity_self_signed"),
        ({"ca": True}, "end_entity_is_ca"),
        ({"digital_signature": False}, "key_usage"),
        ({"ekus": ()}, "extended_key_usage"),
        ({"ekus": (ExtendedKeyUsageOID.SERVER_AUTH,)}, "extended_key_usage"),
        ({"aki": False}, "authority_key_identifier"),
        ({"not_after": NOW - dt.timedelta(days=1)}, "expired"),
        (
            {"not_before": NOW + dt.timedelta(days=1), "not_after": NOW + dt.timedelta(days=9)},
            "not_yet_valid",
        ),
        ({"curve": ec.SECP521R1()}, "key_algorithm"),
        ({"other_key": True}, "key_mismatch"),
        ({"wrong_issuer_key": True}, "chain_signature"),
    ],
)
def test_each_profile_rule_refuses_a_bad_chain(knobs, rule):
    chain, key, _root = build_chain(**knobs)
    with pytest.raises(CertificateProfileError) as excinfo:
        validate_chain(chain, key)
    assert excinfo.value.rule == rule
    assert rule in str(excinfo.value)


def test_a_chain_not_ending_in_the_anchors_is_refused(pki):
    chain, key, _root = build_chain()
    with pytest.raises(CertificateProfileError) as excinfo:
        validate_chain(chain, key, trust_anchors_pem=pki.root.read_bytes())
    assert excinfo.value.rule == "not_anchored"


def test_signer_never_shows_or_pickles_its_key(pki):
    key_pem = pki.signer_key.read_bytes()
    signer = LocalSigner(pki.signer_chain.read_bytes(), key_pem)
    body = key_pem.split(b"\n")[1].decode()
    assert body not in repr(signer)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)


def test_unreadable_key_error_does_not_echo_the_key(pki):
    garbage = b"-----BEGIN PRIVATE KEY-----\nTOPSECRETTOPSECRET\n-----END PRIVATE KEY-----\n"
    with pytest.raises(CertificateProfileError) as excinfo:
        validate_chain(pki.signer_chain.read_bytes(), garbage)
    assert excinfo.value.rule == "key_unreadable"
    assert "TOPSECRET" not in str(excinfo.value)
    assert excinfo.value.__cause__ is None
