"""Review notifications: the inbox and email when a task waits for a role, when a request is
decided, and when a task is overdue (a reminder, then an escalation to admins), once each."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.policies.services import policy_create, policy_publish
from governance.reviews.models import Notification, ReviewTask
from governance.reviews.notifications import remind_overdue
from governance.reviews.services import task_decide
from tests.governance.policies.factories import document, term_rule

pytestmark = pytest.mark.django_db


@pytest.fixture
def review_policy(acme):
    policy = policy_create(
        organization=acme.organization,
        user=acme.users["admin"],
        draft=document(term_rule("gore", "blood", action="review", category="violence")),
    )
    return policy_publish(policy=policy, user=acme.users["admin"])


@pytest.fixture
def task(acme, review_policy, django_capture_on_commit_callbacks, monkeypatch):
    from generation.jobs import dispatch

    # A fake broker: nothing is sent to workers from these tests.
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: None)
    for user in acme.users.values():
        user.email = f"{user.username}@acme.example"
        user.save()
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.client("creator").post(
            f"/api/v1/projects/{acme.project.slug}/requests/",
            {"prompt": "a blood moon"},
            format="json",
        )
    assert response.status_code == 201
    return ReviewTask.objects.get()


def test_a_waiting_task_reaches_its_role_by_inbox_and_email(acme, task, client):
    [note] = Notification.objects.filter(kind="assigned")
    assert note.user == acme.users["compliance"]
    assert note.message == "Prompt review waits for you (Prompt review): a blood moon"
    assert note.url == f"/reviews/tasks/{task.pk}/"
    [email] = mail.outbox
    assert email.to == ["acme-compliance@acme.example"]
    assert email.subject.startswith("[Imprimatur] Prompt review waits for you")
    assert f"/reviews/tasks/{task.pk}/" in email.body
    client.force_login(acme.users["compliance"])
    page = client.get("/").content.decode()
    assert '<span class="nav-count" aria-label="1 waiting">1</span></a></li>' in page
    opened = client.get(f"/reviews/inbox/{note.pk}/")
    assert opened.status_code == 302 and opened["Location"] == note.url
    note.refresh_from_db()
    assert note.read_at is not None
    # Another user's notification is not yours to open.
    client.force_login(acme.users["reviewer"])
    assert client.get(f"/reviews/inbox/{note.pk}/").status_code == 404


def test_the_requester_hears_the_decision(acme, task, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        task_decide(task=task, user=acme.users["compliance"], decision="reject", comment="Too dark")
    [note] = Notification.objects.filter(kind="decided")
    assert note.user == acme.users["creator"]
    assert note.message == "Prompt review rejected by acme-compliance: “Too dark” (a blood moon)"
    assert mail.outbox[0].to == ["acme-creator@acme.example"]


def test_overdue_tasks_are_reminded_then_escalated_once(acme, task, client):
    allowed = task.due_at - task.created_at
    now = task.due_at + timedelta(minutes=5)
    assert remind_overdue(now=now) == {"reminded": 1, "escalated": 0}
    assert remind_overdue(now=now) == {"reminded": 0, "escalated": 0}
    [overdue] = Notification.objects.filter(kind="overdue")
    assert overdue.user == acme.users["compliance"] and overdue.message.startswith("Overdue since")
    later = task.due_at + allowed + timedelta(minutes=1)
    assert remind_overdue(now=later) == {"reminded": 0, "escalated": 1}
    assert remind_overdue(now=later) == {"reminded": 0, "escalated": 0}
    [escalated] = Notification.objects.filter(kind="escalated")
    assert escalated.user == acme.users["admin"]
    assert "is overdue by 24 hours" in escalated.message
    # Both are in the audit log, once each, as the platform's doing.
    events = AuditEvent.objects.filter(action__in=["reviews.task.remind", "reviews.task.escalate"])
    assert [(e.action, e.actor_name, e.target_id, e.data["project"], e.data["late_minutes"])
            for e in events.order_by("sequence")] == [
        ("reviews.task.remind", "system", str(task.pk), acme.project.slug, 5),
        ("reviews.task.escalate", "system", str(task.pk), acme.project.slug,
         round((allowed.total_seconds() + 60) / 60)),
    ]  # fmt: skip
    client.force_login(acme.users["admin"])
    page = client.get("/reviews/inbox/").content.decode()
    assert "Escalated to you" in page and 'class="unread"' in page
    client.post("/reviews/inbox/")
    assert not Notification.objects.filter(user=acme.users["admin"], read_at__isnull=True).exists()
    # A decided task is never reminded, and leaves the inbox (issue 18).
    ReviewTask.objects.filter(pk=task.pk).update(status="approved", reminded_at=None)
    assert remind_overdue(now=timezone.now() + timedelta(days=30)) == {
        "reminded": 0,
        "escalated": 0,
    }
    assert "Escalated to you" not in client.get("/reviews/inbox/").content.decode()


def test_the_audit_log_links_each_event_to_its_target_page(acme, task, client):
    """The audit browser links an event to its target's page: each target of this flow's
    events (request, policy and version, review, task) has one that opens for an admin."""
    from governance.audit.views import _target_link

    events = AuditEvent.objects.filter(organization=acme.organization).exclude(target_type="")
    targets = {(event.target_type, event.target_id): event for event in events}
    kinds = {kind for kind, _ in targets}
    assert {"jobs.generationrequest", "policies.policy", "policies.policyversion",
            "reviews.review"} <= kinds  # fmt: skip
    client.force_login(acme.users["admin"])
    for event in targets.values():
        url, exists = _target_link(event, acme.users["admin"])
        assert exists, event
        if url:
            assert client.get(url).status_code == 200, (event, url)
        # An auditor gets no link to a page it cannot open (a review task: reviewers'),
        # and every link it gets opens.
        auditor_url, _ = _target_link(event, acme.users["auditor"])
        if event.target_type == "reviews.reviewtask":
            assert url and not auditor_url
        elif auditor_url:
            client.force_login(acme.users["auditor"])
            assert client.get(auditor_url).status_code == 200, (event, auditor_url)
            client.force_login(acme.users["admin"])
    assert client.get(task.get_absolute_url()).status_code == 200
    assert client.get(acme.project.get_absolute_url()).status_code == 200
