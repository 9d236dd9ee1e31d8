"""Exceptions raised by the provenance package.

They never carry key material: messages name the rule or step that failed and, where it
helps, the certificate subject — both public.
"""

from __future__ import annotations


class ProvenanceError(Exception):
    """Base class for every error this package raises on purpose."""


class CertificateProfileError(ProvenanceError):
    """A signing certificate chain or key does not meet the C2PA certificate profile.

    ``rule`` is a stable machine-readable code (shown in the admin UI and used by tests);
    ``reason`` is the human explanation.
    """

    def __init__(self, rule: str, reason: str):
        self.rule = rule
        self.reason = reason
        super().__init__(f"{rule}: {reason}")


class SigningError(ProvenanceError):
    """The C2PA SDK refused to build or sign a manifest."""


class UnsupportedFormatError(ProvenanceError):
    """The image format cannot carry an embedded C2PA manifest here."""
