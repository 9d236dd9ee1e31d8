"""The inbox agrees with the tasks (issue 18): a decided task leaves it, whoever decided it,
and the Inbox badge counts what the inbox shows, as the Reviews badge counts open tasks
(they said 10 and 1)."""

import re

import pytest

from governance.reviews.models import Notification, ReviewTask
from governance.reviews.notifications import remind_overdue
from governance.reviews.services import task_decide
from tests.generation.jobs.test_outcome import reviewed_request

pytestmark = pytest.mark.django_db


def nav_count(page: str, label: str) -> int:
    """The number beside ``label`` in the navigation (0 when there is none)."""
    found = re.search(rf">{label} <span class=\"nav-count\"[^>]*>(\d+)<", page)
    return int(found.group(1)) if found else 0


def waiting_items(page: str) -> int:
    return page.count('class="badge inbox-assigned"') + page.count('class="badge inbox-overdue"')


def test_decided_tasks_leave_the_inbox_and_the_counts_agree(client, acme):
    reviewed_request(acme, images=3)
    tasks = list(ReviewTask.objects.filter(status="open").order_by("pk"))
    assert len(tasks) == 3
    reviewer = acme.users["reviewer"]
    client.force_login(reviewer)
    page = client.get("/reviews/inbox/").content.decode()
    assert waiting_items(page) == 3
    assert nav_count(page, "Inbox") == nav_count(page, "Reviews") == 3

    task_decide(task=tasks[0], user=reviewer, decision="approve")
    # Decided by someone else (an admin, overriding): it leaves this reviewer's inbox too.
    task_decide(task=tasks[1], user=acme.users["admin"], decision="reject", comment="No.",
                override_reason="The reviewer is away.")  # fmt: skip
    page = client.get("/reviews/inbox/").content.decode()
    assert waiting_items(page) == 1
    assert f"/reviews/inbox/{Notification.objects.get(task=tasks[2], user=reviewer).pk}/" in page
    assert nav_count(page, "Inbox") == nav_count(page, "Reviews") == 1

    api = acme.client("reviewer").get("/api/v1/inbox/?unread=1").json()
    assert [item["task"] for item in api["results"]] == [tasks[2].pk]


def test_a_reminder_replaces_the_assignment_instead_of_adding_to_it(client, acme):
    from datetime import timedelta

    from django.utils import timezone

    reviewed_request(acme, images=1)
    task = ReviewTask.objects.get(status="open")
    ReviewTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    remind_overdue()
    assert Notification.objects.filter(user=acme.users["reviewer"], task=task).count() == 2
    client.force_login(acme.users["reviewer"])
    page = client.get("/reviews/inbox/").content.decode()
    assert waiting_items(page) == 1 and 'class="badge inbox-overdue"' in page
    assert nav_count(page, "Inbox") == nav_count(page, "Reviews") == 1
