"""The style model's state machine: one moves table, one transition function."""

from django.db import transaction
from django.utils import timezone

from generation.styles import events
from generation.styles.models import StyleModel
from imprimatur.errors import InvalidTransition

Status = StyleModel.Status

STYLE_MOVES: dict[str, set[str]] = {
    Status.DRAFT: {Status.TRAINING},
    # training → training: a task sent again after its worker died resumes from a checkpoint.
    Status.TRAINING: {Status.TRAINING, Status.CANCELLED, Status.FAILED, Status.TRAINED},
    Status.CANCELLED: {Status.TRAINING},  # resumed
    Status.FAILED: {Status.TRAINING},  # resumed (from its last checkpoint)
    Status.TRAINED: {Status.IN_REVIEW},
    Status.IN_REVIEW: {Status.APPROVED, Status.REJECTED},
}


@transaction.atomic
def style_transition(
    *, style: StyleModel, to: str, actor=None, error: str = "", data: dict | None = None, **fields
) -> StyleModel:
    """Move ``style`` to ``to`` (locked, checked against the table, audited), saving
    ``fields`` with it."""
    style = StyleModel.objects.select_for_update().get(pk=style.pk)
    previous = style.status
    if to not in STYLE_MOVES.get(previous, set()):
        raise InvalidTransition(style, previous, to)
    style.status = to
    style.error = error
    for name, value in fields.items():
        setattr(style, name, value)
    if to == Status.TRAINED:
        style.trained_at = timezone.now()
    style.save()
    events.style_transitioned(
        style=style,
        previous=previous,
        to=to,
        actor=actor,
        data={**({"error": error} if error else {}), **(data or {})},
    )
    return style
