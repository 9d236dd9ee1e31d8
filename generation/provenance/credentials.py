"""Signing credentials: the development PKI, the C2PA certificate profile check, signers.

Why a profile check of our own: c2pa-rs checks the signer's certificate only when it
*verifies* a manifest. A certificate that breaks the C2PA certificate profile (a CA
certificate, a self-signed one, no ``digitalSignature`` key usage, a wrong extended key
usage…) signs without complaint and every image signed with it then fails validation
later, in someone else's viewer. :func:`validate_chain` refuses such a chain up front, with
one rule code per requirement, so an admin uploading an organisation certificate gets a
clear error instead of months of unverifiable assets.

Signers: :class:`LocalSigner` holds a PEM key in process memory (the embedded default and
small installs); :class:`CallbackSigner` hands the bytes to sign to a function, which is
how a KMS, an HSM or a remote signing service plugs in (c2pa's callback signer). Both
satisfy :class:`ProvenanceSigner`, the only thing :mod:`.manifests` needs.

Secrets: private keys are kept in name-mangled attributes, never appear in ``repr``,
in exceptions or in logs, and signers refuse to be pickled (so a key cannot leak into a
Celery message or a cache by accident).

This module imports no Django code; the Django side passes bytes read from its settings.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import c2pa
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from .errors import CertificateProfileError, ProvenanceError

__all__ = [
    "ALLOWED_EKUS",
    "CallbackSigner",
    "DevelopmentPKI",
    "LocalSigner",
    "ProvenanceSigner",
    "SignerProfile",
    "create_development_pki",
    "local_sign_function",
    "validate_chain",
]

#: Extended key usages C2PA accepts for a claim signer (C2PA 2.x §14.5.1 and the
#: c2pa-rs default EKU list). ``anyExtendedKeyUsage`` is deliberately absent: the profile
#: forbids it, and timeStamping/OCSPSigning belong to TSA and OCSP responders, not to
#: claim signers.
ALLOWED_EKUS: dict[str, str] = {
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "emailProtection",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.62558.2.1": "c2pa-kp-claimSigning",
}
_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

_ALGORITHMS: dict[str, c2pa.C2paSigningAlg] = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}


# --------------------------------------------------------------------------- profile


@dataclasses.dataclass(frozen=True)
class SignerProfile:
    """What :func:`validate_chain` learned about an accepted chain (all public data)."""

    algorithm: str  # "es256" | "es384" | "ps256" | "ed25519"
    subject: str
    issuer: str
    serial_number: str  # hex
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str  # of the end-entity certificate (DER), hex
    extended_key_usages: tuple[str, ...]
    chain_length: int
    # True: the chain ends in one of the given trust anchors; None: no anchors given.
    anchored: bool | None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["not_before"] = self.not_before.isoformat()
        d["not_after"] = self.not_after.isoformat()
        d["extended_key_usages"] = list(self.extended_key_usages)
        return d


def _algorithm_for(public_key) -> str | None:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "es256", "secp384r1": "es384"}.get(public_key.curve.name)
    if isinstance(public_key, rsa.RSAPublicKey):
        return "ps256" if public_key.key_size >= 2048 else None
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return None


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        certs = []
    if not certs:
        raise CertificateProfileError("chain_unreadable", f"no PEM certificate found in the {what}")
    return certs


def _ext(cert: x509.Certificate, ext_type):
    try:
        return cert.extensions.get_extension_for_class(ext_type)
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    bc = _ext(cert, x509.BasicConstraints)
    return bool(bc and bc.value.ca)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def validate_chain(
    chain_pem: bytes,
    key_pem: bytes | None,
    *,
    now: dt.datetime | None = None,
    trust_anchors_pem: bytes | None = None,
) -> SignerProfile:
    """Check a signer chain (end-entity first, then intermediates) and its private key.

    Raises :class:`CertificateProfileError` whose ``rule`` is one of: ``chain_unreadable``,
    ``key_unreadable``, ``end_entity_self_signed``, ``end_entity_is_ca``,
    ``key_usage``, ``extended_key_usage``, ``authority_key_identifier``,
    ``not_yet_valid``, ``expired``, ``key_algorithm``, ``key_mismatch``,
    ``issuer_not_ca``, ``chain_signature``, ``not_anchored``.

    ``key_pem=None`` skips the key-match rule: a remote signer has no key here and
    :class:`CallbackSigner` proves possession with a probe signature instead.
    With ``trust_anchors_pem`` the chain must also end in (or contain) one of the anchors.
    A root certificate included at the end of the chain is allowed and checked too.
    """
    now = now or dt.datetime.now(dt.UTC)
    certs = _load_certs(chain_pem, "signer chain")
    ee = certs[0]
    subject = ee.subject.rfc4514_string()

    if ee.issuer == ee.subject:
        raise CertificateProfileError(
            "end_entity_self_signed",
            f"the signer certificate {subject!r} is self-signed; C2PA needs one issued by a CA",
        )
    if _is_ca(ee):
        raise CertificateProfileError(
            "end_entity_is_ca",
            f"the signer certificate {subject!r} is a CA certificate (basicConstraints CA:true)",
        )
    ku = _ext(ee, x509.KeyUsage)
    if ku is None or not ku.value.digital_signature:
        raise CertificateProfileError(
            "key_usage", f"the signer certificate {subject!r} lacks the digitalSignature key usage"
        )
    eku = _ext(ee, x509.ExtendedKeyUsage)
    eku_oids = [oid.dotted_string for oid in eku.value] if eku else []
    allowed = [ALLOWED_EKUS[o] for o in eku_oids if o in ALLOWED_EKUS]
    if not allowed or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string in eku_oids:
        raise CertificateProfileError(
            "extended_key_usage",
            f"the signer certificate {subject!r} must have an extended key usage among "
            f"{sorted(ALLOWED_EKUS.values())} (and not anyExtendedKeyUsage); it has "
            f"{eku_oids or 'none'}",
        )
    if _ext(ee, x509.AuthorityKeyIdentifier) is None:
        raise CertificateProfileError(
            "authority_key_identifier",
            f"the signer certificate {subject!r} has no Authority Key Identifier extension",
        )
    for cert in certs:
        name = cert.subject.rfc4514_string()
        if now < cert.not_valid_before_utc:
            raise CertificateProfileError(
                "not_yet_valid",
                f"certificate {name!r} is valid only from {cert.not_valid_before_utc.isoformat()}",
            )
        if now > cert.not_valid_after_utc:
            raise CertificateProfileError(
                "expired", f"certificate {name!r} expired on {cert.not_valid_after_utc.isoformat()}"
            )
    algorithm = _algorithm_for(ee.public_key())
    if algorithm is None:
        raise CertificateProfileError(
            "key_algorithm",
            f"the signer key type is not one of ES256 (P-256), ES384 (P-384), PS256 "
            f"(RSA >= 2048) or Ed25519 (got {type(ee.public_key()).__name__})",
        )
    if key_pem is not None:
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError):
            # Never echo the key or the parser's message (it may quote key bytes).
            raise CertificateProfileError(
                "key_unreadable", "the private key is not an unencrypted PEM key"
            ) from None
        if _spki(key.public_key()) != _spki(ee.public_key()):
            raise CertificateProfileError(
                "key_mismatch", f"the private key does not belong to the certificate {subject!r}"
            )
    for cert, issuer in itertools.pairwise(certs):
        if not _is_ca(issuer):
            raise CertificateProfileError(
                "issuer_not_ca",
                f"certificate {issuer.subject.rfc4514_string()!r} issues another certificate "
                "in the chain but is not a CA",
            )
        if not _issued_by(cert, issuer):
            raise CertificateProfileError(
                "chain_signature",
                f"certificate {cert.subject.rfc4514_string()!r} is not signed by the next "
                f"certificate in the chain ({issuer.subject.rfc4514_string()!r})",
            )
    last = certs[-1]
    if last.issuer == last.subject and not _issued_by(last, last):
        raise CertificateProfileError(
            "chain_signature", "the root certificate at the end of the chain has a bad signature"
        )
    anchored: bool | None = None
    if trust_anchors_pem is not None:
        anchors = _load_certs(trust_anchors_pem, "trust anchors")
        anchor_der = {a.public_bytes(serialization.Encoding.DER) for a in anchors}
        in_chain = any(c.public_bytes(serialization.Encoding.DER) in anchor_der for c in certs)
        anchored = in_chain or any(_issued_by(last, a) for a in anchors)
        if not anchored:
            raise CertificateProfileError(
                "not_anchored",
                f"the chain ending in {last.subject.rfc4514_string()!r} does not chain to "
                "any of the given trust anchors",
            )
    return SignerProfile(
        algorithm=algorithm,
        subject=subject,
        issuer=ee.issuer.rfc4514_string(),
        serial_number=format(ee.serial_number, "x"),
        not_before=ee.not_valid_before_utc,
        not_after=ee.not_valid_after_utc,
        fingerprint_sha256=hashlib.sha256(ee.public_bytes(serialization.Encoding.DER)).hexdigest(),
        extended_key_usages=tuple(allowed),
        chain_length=len(certs),
        anchored=anchored,
    )


# --------------------------------------------------------------------------- signers


@runtime_checkable
class ProvenanceSigner(Protocol):
    """What signing needs: an algorithm, the public chain and a fresh c2pa signer.

    ``c2pa_signer()`` returns a new native signer per call because the SDK may consume
    one (a Context takes ownership of the signer it is built with); creating one costs
    well under a millisecond.
    """

    algorithm: str
    chain_pem: bytes
    profile: SignerProfile

    def c2pa_signer(self) -> c2pa.Signer: ...


class _NoPickle:
    def __reduce__(self):
        raise TypeError(
            f"{type(self).__name__} holds signing credentials and cannot be pickled; "
            "pass the credential's configuration name to the worker instead"
        )


class LocalSigner(_NoPickle):
    """Signs with a PEM private key held in this process.

    The chain is validated against the C2PA profile on construction (pass
    ``trust_anchors_pem`` to also require it to chain to them). ``tsa_url`` adds an
    RFC 3161 timestamp (needs network access to the TSA at signing time).
    """

    def __init__(
        self,
        chain_pem: bytes,
        key_pem: bytes,
        *,
        tsa_url: str | None = None,
        trust_anchors_pem: bytes | None = None,
        now: dt.datetime | None = None,
    ):
        self.profile = validate_chain(
            chain_pem, key_pem, now=now, trust_anchors_pem=trust_anchors_pem
        )
        self.algorithm = self.profile.algorithm
        self.chain_pem = bytes(chain_pem)
        self.tsa_url = tsa_url
        self.__key_pem = bytes(key_pem)

    def c2pa_signer(self) -> c2pa.Signer:
        info = c2pa.C2paSignerInfo(
            _ALGORITHMS[self.algorithm], self.chain_pem, self.__key_pem, self.tsa_url
        )
        try:
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            # c2pa's message is about the structure, but keep only its class to be safe.
            raise ProvenanceError(
                f"c2pa refused the signer credentials ({type(exc).__name__})"
            ) from None

    def __repr__(self) -> str:
        return f"LocalSigner(subject={self.profile.subject!r}, algorithm={self.algorithm!r})"


class CallbackSigner(_NoPickle):
    """Delegates the signature to ``sign_fn(data: bytes) -> bytes`` (KMS, HSM, remote).

    ``sign_fn`` receives the COSE ``Sig_structure`` bytes and returns the signature for
    ``algorithm``: for ES256/ES384 either the raw ``r||s`` form or DER (c2pa-rs accepts
    both; KMS APIs usually return DER), for PS256 an RSASSA-PSS signature (SHA-256,
    MGF1-SHA-256, salt 32), for Ed25519 the 64-byte signature.

    With ``probe=True`` (default) the constructor signs a random nonce and verifies it
    with the certificate's public key, so a signer wired to the wrong key fails here,
    not in the first customer's viewer.
    """

    def __init__(
        self,
        sign_fn: Callable[[bytes], bytes],
        chain_pem: bytes,
        algorithm: str | None = None,
        *,
        tsa_url: str | None = None,
        trust_anchors_pem: bytes | None = None,
        probe: bool = True,
        now: dt.datetime | None = None,
    ):
        self.profile = validate_chain(chain_pem, None, now=now, trust_anchors_pem=trust_anchors_pem)
        if algorithm is not None and algorithm.lower() != self.profile.algorithm:
            raise CertificateProfileError(
                "key_algorithm",
                f"algorithm {algorithm!r} does not match the certificate key "
                f"({self.profile.algorithm})",
            )
        self.algorithm = self.profile.algorithm
        self.chain_pem = bytes(chain_pem)
        self.tsa_url = tsa_url
        self._sign_fn = sign_fn
        if probe:
            self._probe()

    def _probe(self) -> None:
        nonce = b"imprimatur-signer-probe:" + secrets.token_bytes(16)
        signature = self._sign_fn(nonce)
        public_key = _load_certs(self.chain_pem, "signer chain")[0].public_key()
        if not _verify(public_key, self.algorithm, nonce, signature):
            raise CertificateProfileError(
                "key_mismatch",
                "the signing callback's signature does not verify with the certificate's key",
            )

    def c2pa_signer(self) -> c2pa.Signer:
        return c2pa.Signer.from_callback(
            self._sign_fn, _ALGORITHMS[self.algorithm], self.chain_pem.decode("ascii"), self.tsa_url
        )

    def __repr__(self) -> str:
        return f"CallbackSigner(subject={self.profile.subject!r}, algorithm={self.algorithm!r})"


def _verify(public_key, algorithm: str, data: bytes, signature: bytes) -> bool:
    try:
        if algorithm in ("es256", "es384"):
            h = hashes.SHA256() if algorithm == "es256" else hashes.SHA384()
            size = public_key.curve.key_size // 8 + (public_key.curve.key_size % 8 > 0)
            if len(signature) == 2 * size:  # raw r||s → DER for cryptography
                r = int.from_bytes(signature[:size], "big")
                s = int.from_bytes(signature[size:], "big")
                signature = encode_dss_signature(r, s)
            public_key.verify(signature, data, ec.ECDSA(h))
        elif algorithm == "ps256":
            public_key.verify(signature, data, _pss(), hashes.SHA256())
        else:
            public_key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def local_sign_function(key_pem: bytes) -> Callable[[bytes], bytes]:
    """A ``sign_fn`` for :class:`CallbackSigner` backed by a local PEM key.

    It stands in for a KMS in tests and shows the shape a remote implementation must
    have. ECDSA signatures come back in raw ``r||s`` form, as COSE specifies.
    """
    key = serialization.load_pem_private_key(key_pem, password=None)

    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        h = hashes.SHA256() if key.curve.key_size == 256 else hashes.SHA384()

        def sign(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    elif isinstance(key, rsa.RSAPrivateKey):

        def sign(data: bytes) -> bytes:
            return key.sign(data, _pss(), hashes.SHA256())

    elif isinstance(key, ed25519.Ed25519PrivateKey):

        def sign(data: bytes) -> bytes:
            return key.sign(data)

    else:
        raise CertificateProfileError("key_algorithm", "unsupported private key type")
    return sign


# --------------------------------------------------------------------------- dev PKI


@dataclasses.dataclass(frozen=True)
class DevelopmentPKI:
    """Paths of a development PKI made by :func:`create_development_pki`.

    ``root`` is the trust anchor a verifier must be given; ``signer_chain`` holds the
    signer certificate only (c2pa embeds it in the COSE ``x5chain``; the root stays out,
    as the C2PA spec says anchors are not shipped in the chain); ``signer_key`` is mode
    0600. The root's private key is not kept: it signs the one signer certificate and
    is then thrown away, so a development checkout has one secret on disk, not two.
    """

    directory: Path
    root: Path
    signer_chain: Path
    signer_key: Path

    def signer(self, **kwargs) -> LocalSigner:
        return LocalSigner(self.signer_chain.read_bytes(), self.signer_key.read_bytes(), **kwargs)

    def trust_anchors_pem(self) -> bytes:
        return self.root.read_bytes()


def _new_key(algorithm: str):
    if algorithm == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "es384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "ps256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown algorithm {algorithm!r}; use one of {sorted(_ALGORITHMS)}")


def _sign_hash(key):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_development_pki(
    directory: str | os.PathLike,
    *,
    overwrite: bool = False,
    algorithm: str = "es256",
    organization: str = "Imprimatur development",
    signer_days: int = 397,
    root_days: int = 3650,
) -> DevelopmentPKI:
    """Create (once) a development root CA and a C2PA-profile signer under ``directory``.

    Idempotent: when ``root.pem``, ``signer-chain.pem`` and ``signer.key`` all exist they
    are returned untouched unless ``overwrite=True``. A partial set (say, a key without
    its certificate) is refused rather than silently replaced, because replacing a key
    makes every asset signed so far verify against an anchor nobody has any more.
    """
    directory = Path(directory)
    pki = DevelopmentPKI(
        directory=directory,
        root=directory / "root.pem",
        signer_chain=directory / "signer-chain.pem",
        signer_key=directory / "signer.key",
    )
    present = [p for p in (pki.root, pki.signer_chain, pki.signer_key) if p.exists()]
    if present and not overwrite:
        if len(present) == 3:
            return pki
        raise ProvenanceError(
            f"incomplete development PKI in {directory} (found {[p.name for p in present]}); "
            "remove it or pass overwrite=True"
        )
    directory.mkdir(parents=True, exist_ok=True)

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    backdate = dt.timedelta(minutes=5)  # tolerate small clock skew between machines
    root_key, signer_key = _new_key(algorithm), _new_key(algorithm)
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} root CA"),
        ]
    )
    signer_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} C2PA signer"),
        ]
    )
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + dt.timedelta(days=root_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, _sign_hash(root_key))
    )
    signer_cert = (
        x509.CertificateBuilder()
        .subject_name(signer_name)
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - backdate)
        .not_valid_after(now + dt.timedelta(days=signer_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, _DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, _sign_hash(root_key))
    )
    pem = serialization.Encoding.PEM
    _write_atomic(
        pki.signer_key,
        signer_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        0o600,
    )
    _write_atomic(pki.signer_chain, signer_cert.public_bytes(pem), 0o644)
    _write_atomic(pki.root, root_cert.public_bytes(pem), 0o644)
    return pki
