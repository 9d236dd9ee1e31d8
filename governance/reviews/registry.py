"""Reviewable types: what other apps hand to reviews, and how reviews shows it.

An app registers each type once (in its ``AppConfig.ready``) with the template that renders
its evidence on the review page and the callables that describe one object. Reviews stores
only the kind, the content type and the id, so it never imports the app (DESIGN.md).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class Preview:
    """What the review queue shows of one object, so that a reviewer sees what they approve:
    an image (``image_url``, its ``alt`` text, ``full_url`` for the lightbox) or a text."""

    image_url: str = ""
    full_url: str = ""
    alt: str = ""
    text: str = ""


@dataclass(frozen=True)
class ReviewableType:
    kind: str  # "prompt", "asset"
    model: type[models.Model]
    label: str  # "Prompt review"
    evidence_template: str  # rendered with ``target`` and ``review`` in the context
    requester: Callable[[models.Model], object]  # who asked for it: never its reviewer
    url: Callable[[models.Model], str]  # the object's own page
    #: Extra context for the evidence template, from the object and the user looking at it.
    evidence_context: Callable[[models.Model, object], dict] | None = None
    #: The queue's previews: object ids and the user in, ``{object id: Preview}`` out, in one
    #: go (no query per task). An object left out has no preview, so it cannot be approved
    #: in bulk: the reviewer opens it. A kind without this callable is never bulk-approved.
    previews: Callable[[list[int], object], dict[int, Preview]] | None = None


_registry: dict[str, ReviewableType] = {}


def register_reviewable(reviewable: ReviewableType) -> None:
    existing = _registry.get(reviewable.kind)
    if existing is not None and existing != reviewable:
        raise ValueError(f"The reviewable kind {reviewable.kind!r} is already registered.")
    _registry[reviewable.kind] = reviewable


def reviewable_type(kind: str) -> ReviewableType:
    try:
        return _registry[kind]
    except KeyError:
        raise LookupError(
            f"No reviewable type {kind!r} is registered; known: {', '.join(sorted(_registry))}."
        ) from None


def reviewable_label(kind: str) -> str:
    found = _registry.get(kind)
    return found.label if found else kind.replace("_", " ").capitalize()
