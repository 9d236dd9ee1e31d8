"""C2PA provenance for generated images: credentials, signing, verification, fingerprints.

Plain Python (no Django): the jobs app passes bytes, dataclasses and PEM data in and
stores what comes back. See the module docstrings for the why of each part.
"""

from .credentials import (
    CallbackSigner,
    DevelopmentPKI,
    LocalSigner,
    ProvenanceSigner,
    SignerProfile,
    create_development_pki,
    local_sign_function,
    validate_chain,
)
from .errors import (
    CertificateProfileError,
    ProvenanceError,
    SigningError,
    UnsupportedFormatError,
)
from .manifests import (
    ApprovalClaim,
    GenerationClaim,
    Ingredient,
    export_signed,
    make_thumbnail,
    sign_approved,
    sign_generated,
)
from .verify import VerificationReport, verify

__all__ = [
    "ApprovalClaim",
    "CallbackSigner",
    "CertificateProfileError",
    "DevelopmentPKI",
    "GenerationClaim",
    "Ingredient",
    "LocalSigner",
    "ProvenanceError",
    "ProvenanceSigner",
    "SignerProfile",
    "SigningError",
    "UnsupportedFormatError",
    "VerificationReport",
    "create_development_pki",
    "export_signed",
    "local_sign_function",
    "make_thumbnail",
    "sign_approved",
    "sign_generated",
    "validate_chain",
    "verify",
]
