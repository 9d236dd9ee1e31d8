"""Bulk approval: one service decides each task on its own; the queue page and the API both
call it and say the same thing about each task that was not approved."""

import re

import pytest
from django.contrib.messages import get_messages

from governance.reviews.models import Review, ReviewDecision, ReviewTask
from governance.reviews.services import task_decide, tasks_bulk_approve
from governance.reviews.views import NOT_SHOWN
from tests.governance.reviews.conftest import open_prompt_review, stage

pytestmark = pytest.mark.django_db

ALREADY = "Already decided: approved by acme-compliance at "


@pytest.fixture
def tasks(acme, globex):
    """One task of each outcome for acme's compliance officer, in the order they are sent."""
    compliance = [open_prompt_review(acme).tasks.get() for _ in range(3)]
    decided, ended = compliance[1], compliance[2]
    task_decide(task=decided, user=acme.users["compliance"], decision="approve")
    Review.objects.filter(pk=ended.review_id).update(status=Review.Status.WITHDRAWN)
    reviewers = open_prompt_review(acme, [stage("Brand", "reviewer")]).tasks.get()
    elsewhere = open_prompt_review(globex).tasks.get()
    return {
        "open": compliance[0],
        "decided": decided,
        "ended": ended,
        "reviewers": reviewers,
        "elsewhere": elsewhere,
    }


def ids(tasks) -> list[int]:
    return [task.pk for task in tasks.values()] + [987654]


def expected_refusals(tasks) -> dict[int, str]:
    return {
        tasks["decided"].pk: ALREADY,
        tasks["ended"].pk: f"{tasks['ended'].review} cannot go from 'withdrawn' to 'approved'.",
        tasks["reviewers"].pk: "This stage is decided by the reviewers.",
        tasks["elsewhere"].pk: "No such review task.",
        987654: "No such review task.",
    }


def assert_same(refused: dict, expected: dict) -> None:
    assert list(refused) == list(expected)
    for key, text in expected.items():
        assert refused[key].startswith(text) if text == ALREADY else refused[key] == text


def test_the_service_approves_each_task_on_its_own(acme, tasks):
    result = tasks_bulk_approve(user=acme.users["compliance"], task_ids=ids(tasks), comment="ok")
    assert result.approved == [tasks["open"].pk]
    assert_same(result.refused, expected_refusals(tasks))
    approved = ReviewTask.objects.get(pk=tasks["open"].pk)
    assert approved.status == "approved" and approved.decisions.get().comment == "ok"
    # The refusals wrote nothing: the ended review's task is still open, undecided.
    assert ReviewTask.objects.get(pk=tasks["ended"].pk).status == "open"
    assert not ReviewDecision.objects.filter(task=tasks["ended"]).exists()
    assert ReviewDecision.objects.filter(user=acme.users["compliance"]).count() == 2


def test_the_api_answers_with_the_services_result(acme, tasks):
    response = acme.client("compliance").post(
        "/api/v1/reviews/bulk-approve/", {"tasks": ids(tasks), "comment": "ok"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["approved"] == [tasks["open"].pk]
    expected = {str(pk): text for pk, text in expected_refusals(tasks).items()}
    assert_same(body["refused"], expected)


def test_the_queue_page_flashes_the_services_result(client, acme, tasks):
    client.force_login(acme.users["compliance"])
    page = client.get("/reviews/").content.decode()
    shown = re.search(r'name="shown" value="([^"]+)"', page).group(1)
    data = {"task": [str(pk) for pk in ids(tasks)] + ["x"], "comment": " ok ", "shown": shown}
    response = client.post("/reviews/bulk-approve/", data)
    assert response.status_code == 302 and response["Location"] == "/reviews/"
    success, error = [str(message) for message in get_messages(response.wsgi_request)]
    assert success == "Approved 1 task."
    # The tasks the page showed are decided by the service; the others (decided already, of
    # another stage or organisation, unknown) were not on the page, so they are refused
    # unread: bulk approval takes only what the reviewer was shown (test_gallery.py).
    refusals = expected_refusals(tasks)
    unseen = [tasks[name].pk for name in ("decided", "reviewers", "elsewhere")] + [987654]
    expected = [f"#{tasks['ended'].pk}: {refusals[tasks['ended'].pk]}"] + [
        f"#{pk}: {NOT_SHOWN}" for pk in unseen
    ]
    assert error == "Not approved: " + "; ".join(expected)
    assert ReviewDecision.objects.get(task=tasks["open"]).comment == "ok"


def test_the_queue_page_asks_for_a_selection(client, acme):
    client.force_login(acme.users["compliance"])
    response = client.post("/reviews/bulk-approve/", {"comment": "ok"})
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == ["Select the tasks to approve first."]
