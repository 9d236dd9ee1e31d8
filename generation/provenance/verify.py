"""Verifying an image's C2PA manifest and summarising what it says.

The verify page, the review screen and the audit export all need the same four answers,
kept apart because they mean different things to a reviewer:

* ``manifest_present`` — is there any manifest? A stripped or re-encoded copy has none;
  that is *absent*, not *tampered*.
* ``signature_valid`` — does the claim signature verify with the embedded certificate
  (and is the certificate well-formed and in its validity period)?
* ``trusted`` — does that certificate chain to one of the trust anchors we were given?
  A valid signature from an unknown key proves integrity, not origin.
* ``hard_binding_valid`` — do the pixels still hash to what was signed? A changed byte in
  the image data makes this false and the report ``tampered``.

Then it lifts the active manifest's facts (actions, software agent, our generation and
parameters assertions, the approval action, ingredients) into plain dicts, following
parent ingredients so an approval manifest still shows the generation it approves.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
from typing import Any

import c2pa

from .manifests import (
    ACTIONS_LABEL,
    APPROVED_ACTION,
    GENERATION_LABEL,
    TRAINING_MINING_LABEL,
)

__all__ = ["VerificationReport", "verify"]

_HARD_BINDING_MISMATCH = {
    "assertion.dataHash.mismatch",
    "assertion.boxesHash.mismatch",
    "assertion.bmffHash.mismatch",
    "assertion.collectionHash.mismatch",
}
_HARD_BINDING_MATCH = {
    "assertion.dataHash.match",
    "assertion.boxesHash.match",
    "assertion.bmffHash.match",
    "assertion.collectionHash.match",
}
_UNTRUSTED = "signingCredential.untrusted"


@dataclasses.dataclass
class VerificationReport:
    """Outcome of :func:`verify`. ``to_dict()`` is JSON-ready (stored on assets, shown on
    the verify page); ``status`` is the one-word summary for lists and badges:
    ``absent`` | ``tampered`` | ``invalid`` | ``untrusted`` | ``trusted``.
    """

    manifest_present: bool
    signature_valid: bool | None = None
    trusted: bool | None = None
    hard_binding_valid: bool | None = None
    validation_state: str | None = None  # c2pa's: Invalid | Valid | Trusted
    failures: list[dict[str, str]] = dataclasses.field(default_factory=list)
    success_codes: list[str] = dataclasses.field(default_factory=list)
    informational_codes: list[str] = dataclasses.field(default_factory=list)
    ingredient_failures: list[dict[str, str]] = dataclasses.field(default_factory=list)
    active_manifest: str | None = None
    title: str | None = None
    claim_generator: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    signature_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    actions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    software_agent: str | None = None
    digital_source_type: str | None = None
    generation: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    training_mining: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    ingredients: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    has_thumbnail: bool = False
    error: str | None = None

    @property
    def tampered(self) -> bool:
        return self.manifest_present and self.hard_binding_valid is False

    @property
    def status(self) -> str:
        if not self.manifest_present:
            return "absent"
        if self.tampered:
            return "tampered"
        if not self.signature_valid or self.failures_other_than_trust():
            return "invalid"
        return "trusted" if self.trusted else "untrusted"

    @property
    def failure_codes(self) -> list[str]:
        return [f["code"] for f in self.failures]

    def failures_other_than_trust(self) -> list[str]:
        return [c for c in self.failure_codes if c != _UNTRUSTED]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = self.status
        d["tampered"] = self.tampered
        d["failure_codes"] = self.failure_codes
        return d


@functools.lru_cache(maxsize=16)
def _reading_context(pid: int, anchors_digest: str | None, anchors_pem: bytes | None):
    del pid, anchors_digest
    settings: dict[str, Any] = {"version": 1, "verify": {"remote_manifest_fetch": False}}
    if anchors_pem:
        settings["trust"] = {"trust_anchors": anchors_pem.decode("ascii")}
    return c2pa.Context.from_dict(settings)


def _context(trust_anchors_pem: bytes | None) -> c2pa.Context:
    digest = hashlib.sha256(trust_anchors_pem).hexdigest() if trust_anchors_pem else None
    return _reading_context(os.getpid(), digest, trust_anchors_pem)


def _mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _assertion(manifest: dict, label: str) -> Any:
    for a in manifest.get("assertions", []):
        if a.get("label") == label:
            return a.get("data")
    return None


def _find_in_history(store: dict, label: str | None, assertion: str, depth: int = 0):
    """The nearest manifest (active first, then parents) holding ``assertion``."""
    if label is None or depth > 16:
        return None
    manifest = store.get("manifests", {}).get(label) or {}
    data = _assertion(manifest, assertion)
    if data is not None:
        return data
    for ing in manifest.get("ingredients", []):
        if ing.get("relationship") == "parentOf":
            found = _find_in_history(store, ing.get("active_manifest"), assertion, depth + 1)
            if found is not None:
                return found
    return None


def _origin_action(store: dict, label: str | None, depth: int = 0) -> dict | None:
    """The ``c2pa.created``/``c2pa.edited`` action of the asset's generation, looking
    through parent ingredients (an approval manifest only records ``c2pa.opened``)."""
    if label is None or depth > 16:
        return None
    manifest = store.get("manifests", {}).get(label) or {}
    for action in (_assertion(manifest, ACTIONS_LABEL) or {}).get("actions", []):
        if action.get("action") in ("c2pa.created", "c2pa.edited"):
            return action
    for ing in manifest.get("ingredients", []):
        if ing.get("relationship") == "parentOf":
            return _origin_action(store, ing.get("active_manifest"), depth + 1)
    return None


def verify(
    image_bytes: bytes,
    *,
    trust_anchors_pem: bytes | None = None,
    generation_label: str = GENERATION_LABEL,
) -> VerificationReport:
    """Validate ``image_bytes`` with c2pa and summarise it (see module docstring).

    Without ``trust_anchors_pem`` nothing is trusted (c2pa's built-in list does not know
    our CA), so ``trusted`` is false while ``signature_valid`` may be true.
    """
    mime = _mime(image_bytes)
    try:
        reader = c2pa.Reader(mime, io.BytesIO(image_bytes), None, _context(trust_anchors_pem))
    except c2pa.C2paError.ManifestNotFound:
        return VerificationReport(manifest_present=False)
    except c2pa.C2paError as exc:
        # A manifest box that cannot even be parsed: present but broken.
        return VerificationReport(
            manifest_present=True,
            signature_valid=False,
            trusted=False,
            error=f"{type(exc).__name__}: {exc}",
        )
    with reader:
        store = json.loads(reader.json())
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}

    active = results.get("activeManifest") or {}
    failures = [
        {k: f.get(k, "") for k in ("code", "url", "explanation")} for f in active.get("failure", [])
    ]
    success = [s["code"] for s in active.get("success", [])]
    info = [s["code"] for s in active.get("informational", [])]
    codes = {f["code"] for f in failures}
    ingredient_failures = [
        {"code": f.get("code", ""), "url": f.get("url", "")}
        for delta in results.get("ingredientDeltas", [])
        for f in delta.get("validationDeltas", {}).get("failure", [])
    ]

    signature_valid = "claimSignature.validated" in success and not any(
        c.startswith("claimSignature.") or (c.startswith("signingCredential.") and c != _UNTRUSTED)
        for c in codes
    )
    if codes & _HARD_BINDING_MISMATCH:
        hard_binding: bool | None = False
    elif _HARD_BINDING_MATCH & set(success):
        hard_binding = True
    else:
        hard_binding = None

    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label) or {}
    actions = (_assertion(manifest, ACTIONS_LABEL) or {}).get("actions", [])
    origin = _origin_action(store, label)
    agent = (origin or {}).get("softwareAgent")
    approval = next(
        (a for a in actions if a.get("action") in (APPROVED_ACTION, "c2pa.published")), None
    )

    return VerificationReport(
        manifest_present=True,
        signature_valid=signature_valid,
        trusted=signature_valid and "signingCredential.trusted" in success,
        hard_binding_valid=hard_binding,
        validation_state=state,
        failures=failures,
        success_codes=success,
        informational_codes=info,
        ingredient_failures=ingredient_failures,
        active_manifest=label,
        title=manifest.get("title"),
        claim_generator=manifest.get("claim_generator_info", []),
        signature_info=manifest.get("signature_info", {}),
        actions=actions,
        software_agent=agent.get("name") if isinstance(agent, dict) else agent,
        digital_source_type=(origin or {}).get("digitalSourceType"),
        generation=_find_in_history(store, label, generation_label),
        parameters=_find_in_history(store, label, f"{generation_label}.parameters"),
        training_mining=_find_in_history(store, label, TRAINING_MINING_LABEL),
        approval=approval,
        ingredients=[
            {
                "title": ing.get("title"),
                "format": ing.get("format"),
                "relationship": ing.get("relationship"),
                "active_manifest": ing.get("active_manifest"),
            }
            for ing in manifest.get("ingredients", [])
        ],
        has_thumbnail="thumbnail" in manifest,
    )
