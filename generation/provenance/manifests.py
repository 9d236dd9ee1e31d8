"""Building and signing C2PA manifests for generated, approved and exported images.

Three moments get a manifest:

* :func:`sign_generated` — right after generation, before the image is stored. The
  active manifest says the image was *created by a trained algorithm*
  (``c2pa.created`` with IPTC ``trainedAlgorithmicMedia``), which model made it and how
  (a parameters assertion), under which request, project, policy versions and decision,
  with which check results (our custom assertion), and whether it may be used for AI
  training (the CAWG training-and-data-mining assertion).
* :func:`sign_approved` — when the review workflow approves the asset: a *new* manifest
  whose parent ingredient is the generated image (its manifest travels along inside the
  ingredient), with an ``org.imprimatur.approved`` action saying who, when and which
  stages. The original signature is never touched, so the generation record stays
  verifiable on its own.
* :func:`export_signed` — JPEG/WebP downloads. Re-encoding changes every byte the hard
  binding covers, so an export is re-encoded *first* and signed *after*, with the source
  as parent ingredient and a ``c2pa.transcoded`` action.

Speed: the SDK's own thumbnail costs ~100 ms per image (it decodes and resizes with
pure-Rust codecs). We switch it off through ``Settings`` (``builder.thumbnail.enabled =
false``) and embed a 256 px JPEG made with Pillow, which costs a few milliseconds.

Nothing here imports Django: claims come in as dataclasses, the signer as a
:class:`~.credentials.ProvenanceSigner`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import c2pa
from PIL import Image

from .credentials import ProvenanceSigner
from .errors import ProvenanceError, SigningError, UnsupportedFormatError

__all__ = [
    "ACTIONS_LABEL",
    "APPROVED_ACTION",
    "GENERATION_LABEL",
    "IPTC_COMPOSITE_TRAINED",
    "IPTC_TRAINED_ALGORITHMIC_MEDIA",
    "TRAINING_MINING_LABEL",
    "ApprovalClaim",
    "GenerationClaim",
    "Ingredient",
    "export_signed",
    "make_thumbnail",
    "sign_approved",
    "sign_generated",
]

ACTIONS_LABEL = "c2pa.actions.v2"
IPTC_TRAINED_ALGORITHMIC_MEDIA = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
IPTC_COMPOSITE_TRAINED = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
)
#: C2PA 2.0 dropped ``c2pa.training-mining``; the Creator Assertions Working Group
#: republished it as ``cawg.training-mining`` with ``cawg.*`` entry keys. c2pa-python
#: 0.38 (c2pa-rs 0.91) stores either label as an opaque JSON assertion; we write the
#: current one.
TRAINING_MINING_LABEL = "cawg.training-mining"
TRAINING_MINING_ENTRIES = (
    "cawg.ai_training",
    "cawg.ai_generative_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)
GENERATION_LABEL = "org.imprimatur.generation"
APPROVED_ACTION = "org.imprimatur.approved"
THUMBNAIL_MAX_SIDE = 256

_LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9_-]*)+$")
_FORMATS = {
    "png": ("image/png", "PNG"),
    "jpeg": ("image/jpeg", "JPEG"),
    "jpg": ("image/jpeg", "JPEG"),
    "webp": ("image/webp", "WEBP"),
}

TrainingMining = Literal["allowed", "notAllowed", "constrained"]
Mode = Literal["text-to-image", "image-to-image", "inpainting", "upscale"]
_MODES = ("text-to-image", "image-to-image", "inpainting", "upscale")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_label(label: str) -> None:
    if not _LABEL_RE.match(label) or label.startswith(("c2pa.", "cawg.")):
        raise ProvenanceError(
            f"assertion label {label!r} must be a reverse-domain name you control "
            "(e.g. 'org.example.generation'); 'c2pa.' and 'cawg.' are reserved"
        )


def _iso(when: dt.datetime) -> str:
    if when.tzinfo is None:
        raise ProvenanceError("timestamps in manifests must be timezone-aware")
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _clean(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --------------------------------------------------------------------------- claims


@dataclasses.dataclass(frozen=True)
class Ingredient:
    """An input image of image-to-image or inpainting (or a reference image).

    ``relationship`` defaults by generation mode: ``inputTo`` for image-to-image (the
    init image fed the model; the output is a new creation), ``parentOf`` for inpainting
    (the output *is* the init image, edited). If the bytes already carry a C2PA manifest
    the SDK embeds it, so the history of the init image travels along.
    """

    data: bytes = dataclasses.field(repr=False)
    format: str = "image/png"
    title: str = "init image"
    relationship: Literal["parentOf", "componentOf", "inputTo"] | None = None


@dataclasses.dataclass(frozen=True)
class GenerationClaim:
    """Everything the generation manifest states. All fields are public facts.

    ``prompt`` is stored only when ``include_prompt`` is true; its SHA-256 is always
    stored, so an auditor who holds the prompt can prove it was this one without the
    asset disclosing it. ``checks`` and ``policy_versions`` must be JSON-serialisable.
    """

    request_id: str
    project: str
    model: str
    prompt: str = dataclasses.field(repr=False)
    model_version: str | None = None
    checkpoint_sha256: str | None = None
    scheduler: str | None = None
    steps: int | None = None
    guidance_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    negative_prompt: str = dataclasses.field(default="", repr=False)
    mode: Mode = "text-to-image"
    strength: float | None = None
    policy_versions: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    decision: str = "allow"
    checks: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    include_prompt: bool = False
    training_mining: TrainingMining = "notAllowed"
    training_constraint: str | None = None
    asset_id: str | None = None
    organization: str | None = None
    created_at: dt.datetime | None = None
    title: str | None = None
    assertion_label: str = GENERATION_LABEL
    generator_name: str = "Imprimatur"
    generator_version: str | None = None
    #: Super-resolution applied after generation, or the whole job for mode "upscale":
    #: factor, network (its name), architecture, sha256 (of its weights file), width, height.
    upscale: Mapping[str, Any] | None = None
    #: Style adapters (LoRA) applied: name, version, weight and the SHA-256 of their weights.
    styles: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self):
        _check_label(self.assertion_label)
        if self.training_mining not in ("allowed", "notAllowed", "constrained"):
            raise ProvenanceError(
                f"training_mining must be allowed, notAllowed or constrained, "
                f"not {self.training_mining!r}"
            )
        if self.mode not in _MODES:
            raise ProvenanceError(f"unknown generation mode {self.mode!r}")

    @property
    def parameters_label(self) -> str:
        return f"{self.assertion_label}.parameters"

    def parameters(self) -> dict[str, Any]:
        """The model-parameters assertion body."""
        data = _clean(
            {
                "model": self.model,
                "model_version": self.model_version,
                "checkpoint_sha256": self.checkpoint_sha256,
                "mode": self.mode,
                "scheduler": self.scheduler,
                "steps": self.steps,
                "guidance_scale": self.guidance_scale,
                "seed": self.seed,
                "width": self.width,
                "height": self.height,
                "strength": self.strength,
                "prompt_sha256": _sha256(self.prompt),
            }
        )
        if self.negative_prompt:
            data["negative_prompt_sha256"] = _sha256(self.negative_prompt)
        if self.upscale:
            data["upscale"] = dict(self.upscale)
        if self.styles:
            # Versions and weights as texts: c2pa stores lists of small numbers as bytes.
            data["styles"] = [
                {
                    "name": str(style["name"]),
                    "version": str(style["version"]),
                    "weight": str(style["weight"]),
                    "sha256": str(style["sha256"]),
                }
                for style in self.styles
            ]
        if self.include_prompt:
            data["prompt"] = self.prompt
            if self.negative_prompt:
                data["negative_prompt"] = self.negative_prompt
        return data

    def governance(self) -> dict[str, Any]:
        """The custom governance assertion body (under ``assertion_label``)."""
        return _clean(
            {
                "request_id": self.request_id,
                "asset_id": self.asset_id,
                "organization": self.organization,
                "project": self.project,
                "policy_versions": dict(self.policy_versions),
                "decision": self.decision,
                "checks": dict(self.checks),
                "prompt_sha256": _sha256(self.prompt),
                "prompt_included": self.include_prompt,
            }
        )

    def training_mining_assertion(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"use": self.training_mining}
        if self.training_mining == "constrained" and self.training_constraint:
            entry["constraint_info"] = self.training_constraint
        return {"entries": {key: dict(entry) for key in TRAINING_MINING_ENTRIES}}


@dataclasses.dataclass(frozen=True)
class ApprovalClaim:
    """Who approved, when, through which workflow stages.

    The approver is named only with ``disclose_name=True`` (an organisation may not want
    staff names inside published files); otherwise only the role is recorded.
    """

    approved_at: dt.datetime
    approver_role: str
    approver_name: str | None = None
    disclose_name: bool = False
    stages: Sequence[str] = ()
    request_id: str | None = None
    asset_id: str | None = None
    workflow: str | None = None
    action: str = APPROVED_ACTION
    generator_name: str = "Imprimatur"
    generator_version: str | None = None
    #: Super-resolution applied after generation, or the whole job for mode "upscale":
    #: factor, network (its name), architecture, sha256 (of its weights file), width, height.
    upscale: Mapping[str, Any] | None = None

    def __post_init__(self):
        # Either the standard publish action or a reverse-domain custom action.
        if self.action != "c2pa.published":
            _check_label(self.action)
        if not self.approver_role:
            raise ProvenanceError("an approval needs the approver's role")

    def action_dict(self) -> dict[str, Any]:
        approver: dict[str, Any] = {"role": self.approver_role}
        if self.disclose_name and self.approver_name:
            approver["name"] = self.approver_name
        params = _clean(
            {
                "approver": approver,
                "stages": list(self.stages),
                "workflow": self.workflow,
                "request_id": self.request_id,
                "asset_id": self.asset_id,
            }
        )
        return {"action": self.action, "when": _iso(self.approved_at), "parameters": params}


# --------------------------------------------------------------------------- SDK plumbing


@functools.lru_cache(maxsize=4)
def _signing_context(pid: int) -> c2pa.Context:
    """A Context with the SDK thumbnail off, one per process.

    Keyed on the pid because native handles must not cross a fork (Celery prefork).
    ``verify_after_sign`` is off: signing our own freshly built manifest and then
    re-validating it doubles the cost for no information; tests and the verify page do
    the validating.
    """
    del pid
    return c2pa.Context.from_dict(
        {
            "version": 1,
            "builder": {"thumbnail": {"enabled": False}},
            "verify": {"verify_after_sign": False},
        }
    )


def _generator_info(name: str, version: str | None) -> list[dict[str, str]]:
    if version is None:
        try:
            from importlib.metadata import version as _pkg_version

            version = _pkg_version("imprimatur")
        except Exception:
            version = "0"
    return [{"name": name, "version": version}]


def make_thumbnail(
    image: Image.Image | bytes, *, max_side: int = THUMBNAIL_MAX_SIDE, quality: int = 80
) -> bytes:
    """A small JPEG for the manifest: longest side ``max_side`` (never upscaled)."""
    if isinstance(image, bytes | bytearray):
        image = Image.open(io.BytesIO(image))
    im = image.convert("RGB")
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _sign(
    manifest: dict,
    *,
    signer: ProvenanceSigner,
    mime: str,
    asset: bytes,
    thumbnail: bytes | None,
    ingredients: Sequence[tuple[dict, str, bytes]] = (),
) -> bytes:
    if thumbnail is not None:
        manifest["thumbnail"] = {"format": "image/jpeg", "identifier": "thumbnail.jpg"}
    try:
        builder = c2pa.Builder(manifest, _signing_context(os.getpid()))
        if thumbnail is not None:
            builder.add_resource("thumbnail.jpg", io.BytesIO(thumbnail))
        for ingredient_json, ingredient_mime, data in ingredients:
            builder.add_ingredient(ingredient_json, ingredient_mime, io.BytesIO(data))
        out = io.BytesIO()
        builder.sign(signer.c2pa_signer(), mime, io.BytesIO(asset), out)
    except c2pa.C2paError as exc:
        # c2pa messages describe manifest structure, never key material.
        raise SigningError(f"c2pa could not sign the {mime} asset: {exc}") from exc
    return out.getvalue()


def _sniff_png(data: bytes) -> None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise UnsupportedFormatError("sign_generated expects PNG bytes")


# --------------------------------------------------------------------------- public API


def sign_generated(
    png_bytes: bytes,
    *,
    signer: ProvenanceSigner,
    claim: GenerationClaim,
    thumbnail: bool = True,
    ingredient: Ingredient | None = None,
    image: Image.Image | None = None,
) -> bytes:
    """Embed a signed generation manifest in ``png_bytes``; return the signed PNG.

    ``image`` may pass the already-decoded PIL image (the worker has it) so the
    thumbnail does not decode the PNG again.
    """
    _sniff_png(png_bytes)
    agent = _clean({"name": claim.model, "version": claim.model_version})
    when = _iso(claim.created_at) if claim.created_at else None
    ingredients: list[tuple[dict, str, bytes]] = []
    if claim.mode in ("inpainting", "upscale"):
        if ingredient is None:
            raise ProvenanceError(f"an {claim.mode} claim needs its source image as ingredient")
        relationship = ingredient.relationship or "parentOf"
    else:
        relationship = (ingredient.relationship or "inputTo") if ingredient else None
    if ingredient is not None:
        ingredients.append(
            (
                {"title": ingredient.title, "relationship": relationship, "label": "init"},
                ingredient.format,
                ingredient.data,
            )
        )
    if claim.mode == "upscale":
        # Only enlarged: the parent was opened and resized by a trained network.
        actions = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["init"]}}]
    elif relationship == "parentOf":
        # An edit of an existing image: C2PA wants c2pa.opened on the parent first.
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["init"]}},
            _clean(
                {
                    "action": "c2pa.edited",
                    "when": when,
                    "digitalSourceType": IPTC_COMPOSITE_TRAINED,
                    "softwareAgent": agent,
                    "description": f"{claim.mode} by {claim.model}",
                }
            ),
        ]
    else:
        created: dict[str, Any] = _clean(
            {
                "action": "c2pa.created",
                "when": when,
                "digitalSourceType": IPTC_TRAINED_ALGORITHMIC_MEDIA,
                "softwareAgent": agent,
                "description": f"{claim.mode} by {claim.model}",
            }
        )
        if ingredient is not None:
            created["parameters"] = {"ingredientIds": ["init"]}
        actions = [created]
    if claim.upscale:
        actions.append(_resized_action(claim.upscale, when))

    manifest: dict[str, Any] = {
        "claim_generator_info": _generator_info(claim.generator_name, claim.generator_version),
        "title": claim.title or f"{claim.asset_id or claim.request_id}.png",
        "assertions": [
            {"label": ACTIONS_LABEL, "data": {"actions": actions}},
            {"label": claim.parameters_label, "data": claim.parameters()},
            {"label": claim.assertion_label, "data": claim.governance()},
            {"label": TRAINING_MINING_LABEL, "data": claim.training_mining_assertion()},
        ],
    }
    thumb = make_thumbnail(image if image is not None else png_bytes) if thumbnail else None
    return _sign(
        manifest,
        signer=signer,
        mime="image/png",
        asset=png_bytes,
        thumbnail=thumb,
        ingredients=ingredients,
    )


def _resized_action(upscale: Mapping[str, Any], when: str | None) -> dict[str, Any]:
    """The ``c2pa.resized`` action of a super-resolution step: a trained network drew the new
    pixels, so its source type says trained algorithmic media composited with the original."""
    return _clean(
        {
            "action": "c2pa.resized",
            "when": when,
            "digitalSourceType": IPTC_COMPOSITE_TRAINED,
            "softwareAgent": _clean({"name": upscale.get("network")}),
            "description": f"enlarged {upscale.get('factor')} times by super-resolution",
        }
    )


def _reencode(image_bytes: bytes, fmt: str, quality: int) -> tuple[bytes, str, Image.Image]:
    try:
        mime, pil_format = _FORMATS[fmt.lower()]
    except KeyError:
        raise UnsupportedFormatError(
            f"cannot export to {fmt!r}; supported: {sorted(set(_FORMATS))}"
        ) from None
    im = Image.open(io.BytesIO(image_bytes))
    im.load()
    buf = io.BytesIO()
    if pil_format == "PNG":
        im.save(buf, "PNG")
    else:
        im.convert("RGB").save(buf, pil_format, quality=quality)
    return buf.getvalue(), mime, im


def _detect_mime(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise UnsupportedFormatError("source image is not PNG, JPEG or WebP")


def export_signed(
    image_bytes: bytes,
    fmt: str,
    *,
    signer: ProvenanceSigner,
    approval: ApprovalClaim | None = None,
    quality: int = 90,
    thumbnail: bool = True,
    title: str | None = None,
) -> bytes:
    """Re-encode a signed image to ``fmt`` (png/jpeg/webp), *then* sign the result.

    The source (with its manifest) becomes the parent ingredient; the actions are
    ``c2pa.opened`` and ``c2pa.transcoded`` (unless ``fmt`` is PNG and the bytes are
    kept), plus the approval action when ``approval`` is given.
    """
    source_mime = _detect_mime(image_bytes)
    target_mime = _FORMATS.get(fmt.lower(), (None,))[0]
    if target_mime == source_mime == "image/png":
        asset, mime = image_bytes, source_mime
        im = Image.open(io.BytesIO(image_bytes))
        transcoded = False
    else:
        asset, mime, im = _reencode(image_bytes, fmt, quality)
        transcoded = True
    actions: list[dict[str, Any]] = [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}
    ]
    if transcoded:
        actions.append({"action": "c2pa.transcoded", "description": f"re-encoded as {mime}"})
    if approval is not None:
        actions.append(approval.action_dict())
    manifest = {
        "claim_generator_info": _generator_info(
            approval.generator_name if approval else "Imprimatur",
            approval.generator_version if approval else None,
        ),
        "title": title or f"export.{fmt.lower()}",
        "assertions": [{"label": ACTIONS_LABEL, "data": {"actions": actions}}],
    }
    ingredient = (
        {"title": "generated image", "relationship": "parentOf", "label": "parent"},
        source_mime,
        image_bytes,
    )
    return _sign(
        manifest,
        signer=signer,
        mime=mime,
        asset=asset,
        thumbnail=make_thumbnail(im) if thumbnail else None,
        ingredients=[ingredient],
    )


def sign_approved(
    signed_png_bytes: bytes,
    *,
    signer: ProvenanceSigner,
    approval: ApprovalClaim,
    fmt: str = "png",
    quality: int = 90,
) -> bytes:
    """Add the approval manifest on top of the generated one (see module docstring).

    For ``fmt`` other than ``png`` this is :func:`export_signed` with the approval, so
    the approved JPEG/WebP is signed after re-encoding.
    """
    _sniff_png(signed_png_bytes)
    return export_signed(signed_png_bytes, fmt, signer=signer, approval=approval, quality=quality)
