"""Fixtures of the audit tests: a month of one organisation's work to report on."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from PIL import Image

from generation.jobs import dispatch, worker
from generation.jobs.models import Asset, GenerationRequest
from governance.policies.services import policy_create, policy_publish
from governance.reviews.models import Review, ReviewTask
from governance.reviews.services import task_decide
from imprimatur.tenancy.models import Membership
from tests.generation.jobs.factories import GenerationJobFactory
from tests.governance.policies.factories import document, term_rule
from tests.imprimatur.tenancy.factories import BrandProjectFactory, UserFactory


@pytest.fixture
def enqueued(monkeypatch):
    """A fake broker: the job ids that would have been sent to the workers."""
    sent = []
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: sent.append(job_id))
    return sent


def publish_policy(tenant):
    policy = policy_create(
        organization=tenant.organization,
        user=tenant.users["admin"],
        draft=document(
            term_rule("nudity", "nude", category="sexual"),
            term_rule("gore", "blood", action="review", category="violence"),
            term_rule("rivals", "globocorp", action="warn", category="competitor_brands"),
        ),
    )
    policy_publish(policy=policy, user=tenant.users["admin"])


def submit(tenant, prompt, project=None):
    project = project or tenant.project
    return tenant.client("creator").post(
        f"/api/v1/projects/{project.slug}/requests/", {"prompt": prompt}, format="json"
    )


def asset_with_verdict(tenant, verdict):
    job = GenerationJobFactory(
        request__project=tenant.project, request__created_by=tenant.users["creator"]
    )
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (215, 35, 35)).save(buffer, format="PNG")
    asset = worker.asset_store(job=job, index=0, seed=1, png=buffer.getvalue())
    Asset.objects.filter(pk=asset.pk).update(check_verdict=verdict, quarantined=verdict == "fail")
    return asset


@pytest.fixture
def history(acme, globex, enqueued):
    """A month of acme's work: 2 blocked prompts, 4 sent to prompt review (3 approved after
    1 h, 2 h and 10 h, one of them by an admin's override; 1 rejected), 1 allowed with a
    warning, 3 checked images (pass, flag, fail), and a request 60 days old. Globex and a
    second acme project add noise that the scope must leave out."""
    publish_policy(acme)
    publish_policy(globex)
    compliance = acme.users["compliance"]
    boss = UserFactory(username="acme-boss")
    Membership.objects.create(user=boss, organization=acme.organization, role="admin")
    for prompt in ("a nude figure", "nude on a beach"):
        assert submit(acme, prompt).status_code == 400
    assert submit(acme, "a globocorp logo").status_code == 201  # warned, allowed
    hours = [1, 2, 10, 5]
    for index, hour in enumerate(hours):
        response = submit(acme, f"a blood red rose, take {index}")
        assert response.status_code == 201, response.json()
        review = Review.objects.get(object_id=response.json()["id"], kind="prompt")
        Review.objects.filter(pk=review.pk).update(
            created_at=timezone.now() - timedelta(hours=hour)
        )
        task = ReviewTask.objects.get(review=review)
        if index == 3:
            task_decide(task=task, user=compliance, decision="reject", comment="Too gory.")
        elif index == 2:
            task_decide(task=task, user=boss, decision="approve", override_reason="Urgent.")
        else:
            task_decide(task=task, user=compliance, decision="approve")
    for verdict in ("pass", "flag", "fail"):
        asset_with_verdict(acme, verdict)
    old = submit(acme, "an old red star").json()["id"]
    GenerationRequest.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(days=60))
    other = BrandProjectFactory(organization=acme.organization, slug="other-campaign")
    acme.model.projects.add(other)
    assert submit(acme, "nude elsewhere", project=other).status_code == 400
    assert submit(globex, "a nude figure").status_code == 400
    assert submit(globex, "a blood moon").status_code == 201
