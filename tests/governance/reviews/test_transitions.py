"""Every status change of a review and of a review task goes through its transition: the
moves tables allow each one, anything else is refused with nothing written, and a review
that ends sends ``review_decided`` once, inside the transaction that ended it."""

import itertools

import pytest
from django.db import connection
from django.forms.models import model_to_dict

from governance.audit.models import AuditEvent
from governance.reviews.models import Notification, Review, ReviewDecision, ReviewTask
from governance.reviews.services import (
    REVIEW_MOVES,
    TASK_MOVES,
    review_decided,
    review_transition,
    review_withdraw,
    task_decide,
    task_transition,
)
from imprimatur.errors import AlreadyDecided, InvalidTransition
from tests.governance.reviews.conftest import open_prompt_review, stage

pytestmark = pytest.mark.django_db


def illegal(moves: dict, statuses) -> list[tuple[str, str]]:
    return [
        (current, wanted)
        for current, wanted in itertools.product(statuses, repeat=2)
        if wanted not in moves.get(current, ())
    ]


def legal(moves: dict) -> list[tuple[str, str]]:
    return [(current, wanted) for current, allowed in moves.items() for wanted in allowed]


@pytest.fixture
def sent():
    """What ``review_decided`` was sent with, and whether a transaction was open then."""
    calls = []

    def receiver(sender, review, decision, **kwargs):
        calls.append((sender, review.pk, review.status, decision, connection.in_atomic_block))

    review_decided.connect(receiver, dispatch_uid="test-transitions")
    yield calls
    review_decided.disconnect(dispatch_uid="test-transitions")


def snapshot(review: Review) -> dict:
    """Everything a refused move must leave as it was."""
    return {
        "review": model_to_dict(Review.objects.get(pk=review.pk)),
        "tasks": [model_to_dict(task) for task in ReviewTask.objects.filter(review=review)],
        "decisions": ReviewDecision.objects.count(),
        "events": list(AuditEvent.objects.values_list("pk", flat=True)),
        "notifications": Notification.objects.count(),
    }


def test_the_tables_name_only_real_statuses():
    for moves, statuses in ((REVIEW_MOVES, Review.Status), (TASK_MOVES, ReviewTask.Status)):
        assert set(moves) | {s for allowed in moves.values() for s in allowed} <= set(statuses)
    assert len(illegal(REVIEW_MOVES, Review.Status)) == 25 - 4
    assert len(illegal(TASK_MOVES, ReviewTask.Status)) == 25 - 4


@pytest.mark.parametrize(("current", "wanted"), illegal(REVIEW_MOVES, Review.Status.values))
def test_each_illegal_review_move_is_refused(acme, review, sent, current, wanted):
    Review.objects.filter(pk=review.pk).update(status=current)
    before = snapshot(review)
    with pytest.raises(InvalidTransition) as refused:
        review_transition(review=review, to=wanted, actor=acme.users["compliance"])
    assert (refused.value.current, refused.value.wanted) == (current, wanted)
    assert snapshot(review) == before
    assert sent == []


@pytest.mark.parametrize(("current", "wanted"), illegal(TASK_MOVES, ReviewTask.Status.values))
def test_each_illegal_task_move_is_refused(acme, review, sent, current, wanted):
    task = review.tasks.get()
    ReviewTask.objects.filter(pk=task.pk).update(status=current)
    before = snapshot(review)
    with pytest.raises(InvalidTransition) as refused:
        task_transition(task=task, to=wanted, actor=acme.users["compliance"])
    assert (refused.value.current, refused.value.wanted) == (current, wanted)
    assert snapshot(review) == before
    assert sent == []


@pytest.mark.parametrize(("current", "wanted"), legal(REVIEW_MOVES))
def test_each_legal_review_move_ends_it_once(acme, review, sent, current, wanted):
    decision = None
    if wanted != Review.Status.WITHDRAWN:  # what ended it: a reviewer's decision
        decision = ReviewDecision.objects.create(
            task=review.tasks.get(),
            user=acme.users["compliance"],
            decision={"approved": "approve", "rejected": "reject"}.get(wanted, "changes"),
            comment="Seen.",
        )
    ended = review_transition(review=review, to=wanted, decision=decision)
    stored = Review.objects.get(pk=review.pk)
    assert ended.status == stored.status == wanted and stored.decided_at is not None
    [event] = AuditEvent.objects.filter(action="reviews.review.end")
    actor = "acme-compliance" if decision else "system"
    assert (event.actor_name, event.data["status"]) == (actor, wanted)
    assert sent == [(Review, review.pk, wanted, decision, True)]


@pytest.mark.parametrize("wanted", sorted(REVIEW_MOVES[Review.Status.OPEN]))
def test_a_review_ends_by_a_decision_or_is_withdrawn_without_one(acme, review, sent, wanted):
    decision = ReviewDecision.objects.create(
        task=review.tasks.get(), user=acme.users["compliance"], decision="approve"
    )
    before = snapshot(review)
    with pytest.raises(ValueError, match="ends by a decision"):
        review_transition(
            review=review, to=wanted, decision=None if wanted != "withdrawn" else decision
        )
    assert snapshot(review) == before and sent == []


@pytest.mark.parametrize(("current", "wanted"), legal(TASK_MOVES))
def test_each_legal_task_move_is_stamped(acme, review, current, wanted):
    task = review.tasks.get()
    moved = task_transition(task=task, to=wanted, actor=acme.users["compliance"])
    stored = ReviewTask.objects.get(pk=task.pk)
    assert moved.status == stored.status == wanted
    assert stored.decided_by == acme.users["compliance"] and stored.decided_at is not None
    withdrawn = AuditEvent.objects.filter(action="reviews.task.withdraw").count()
    assert withdrawn == (1 if wanted == ReviewTask.Status.WITHDRAWN else 0)


@pytest.mark.parametrize(
    ("decision", "task_status", "review_status"),
    [
        ("approve", "approved", "approved"),
        ("reject", "rejected", "rejected"),
        ("changes", "changes", "changes"),
    ],
)
def test_a_decision_ends_the_review_and_signals_once(
    acme, review, sent, decision, task_status, review_status
):
    recorded = task_decide(
        task=review.tasks.get(), user=acme.users["compliance"], decision=decision, comment="Seen."
    )
    task = ReviewTask.objects.get(review=review)
    assert (task.status, task.decided_by) == (task_status, acme.users["compliance"])
    assert Review.objects.get(pk=review.pk).status == review_status
    assert sent == [(Review, review.pk, review_status, recorded, True)]
    assert AuditEvent.objects.filter(action="reviews.review.end").count() == 1


def test_approving_a_stage_opens_the_next_and_signals_nothing(acme, sent):
    review = open_prompt_review(acme, [stage("Legal", "compliance"), stage("Brand", "reviewer")])
    task_decide(task=review.tasks.get(), user=acme.users["compliance"], decision="approve")
    statuses = list(ReviewTask.objects.filter(review=review).values_list("status", flat=True))
    assert statuses == ["approved", "open"]
    assert Review.objects.get(pk=review.pk).status == "open" and sent == []
    second = review.tasks.get(status="open")
    task_decide(task=second, user=acme.users["reviewer"], decision="approve")
    assert Review.objects.get(pk=review.pk).status == "approved" and len(sent) == 1


def test_a_decided_task_is_already_decided_before_any_transition(acme, review, sent):
    task = review.tasks.get()
    task_decide(task=task, user=acme.users["compliance"], decision="approve")
    before = snapshot(review)
    with pytest.raises(AlreadyDecided, match=r"^Already decided: approved by acme-compliance at "):
        task_decide(task=task, user=acme.users["admin"], decision="reject", comment="No.")
    assert snapshot(review) == before and len(sent) == 1


def test_deciding_an_open_task_of_an_ended_review_is_refused_and_rolled_back(acme, review, sent):
    """A review that ended can end no second time: the decision that would do so is undone."""
    Review.objects.filter(pk=review.pk).update(status=Review.Status.WITHDRAWN)
    before = snapshot(review)
    response = acme.client("compliance").post(
        f"/api/v1/reviews/tasks/{review.tasks.get().pk}/decide/",
        {"decision": "reject", "comment": "No."},
        format="json",
    )
    assert response.status_code == 409
    assert "cannot go from 'withdrawn' to 'rejected'" in response.json()["detail"]
    assert snapshot(review) == before and sent == []


def test_the_task_page_answers_an_illegal_move_with_409(client, acme, review):
    Review.objects.filter(pk=review.pk).update(status=Review.Status.APPROVED)
    client.force_login(acme.users["compliance"])
    task = review.tasks.get()
    response = client.post(f"/reviews/tasks/{task.pk}/", {"decision": "approve"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "cannot go from &#x27;approved&#x27; to &#x27;approved&#x27;" in page
    assert ReviewTask.objects.get(pk=task.pk).status == "open"


def test_withdrawing_withdraws_each_open_task_and_signals_once(acme, sent):
    review = open_prompt_review(acme, [stage("Legal", "compliance"), stage("Brand", "reviewer")])
    task_decide(task=review.tasks.get(), user=acme.users["compliance"], decision="approve")
    withdrawn = review_withdraw(review=review, reason="Cancelled by acme-creator.")
    assert withdrawn.status == Review.Status.WITHDRAWN
    stored = Review.objects.get(pk=review.pk)
    assert stored.reasons[-1] == {"withdrawn": "Cancelled by acme-creator."}
    tasks = ReviewTask.objects.filter(review=review).order_by("stage_index")
    assert [(task.status, task.decided_by) for task in tasks] == [
        ("approved", acme.users["compliance"]),
        ("withdrawn", None),
    ]
    [event] = AuditEvent.objects.filter(action="reviews.task.withdraw")
    assert (event.target_id, event.actor_name) == (str(tasks[1].pk), "system")
    assert event.data == {
        "review": review.pk,
        "kind": "prompt",
        "stage": "Brand",
        "reason": "Cancelled by acme-creator.",
        "project": acme.project.slug,
    }
    ended = AuditEvent.objects.get(action="reviews.review.end")
    assert ended.data["status"] == "withdrawn" and ended.actor_name == "system"
    assert sent == [(Review, review.pk, "withdrawn", None, True)]
    # Withdrawing again, or withdrawing a decided review, changes nothing.
    before = snapshot(review)
    assert review_withdraw(review=review, reason="again").status == Review.Status.WITHDRAWN
    assert snapshot(review) == before and len(sent) == 1


def test_a_failing_receiver_undoes_the_decision_with_it(acme, review):
    """``review_decided`` is sent inside the decision's transaction: what the owner of the
    object does in reply commits or rolls back with the decision."""

    def receiver(sender, review, decision, **kwargs):
        raise RuntimeError("the owner could not follow")

    before = snapshot(review)
    review_decided.connect(receiver, dispatch_uid="test-failing-receiver")
    try:
        with pytest.raises(RuntimeError, match="could not follow"):
            task_decide(task=review.tasks.get(), user=acme.users["compliance"], decision="approve")
    finally:
        review_decided.disconnect(dispatch_uid="test-failing-receiver")
    assert snapshot(review) == before
