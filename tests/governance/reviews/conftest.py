"""A review of a real reviewable object: a prompt waiting for review (the kind registered by
``generation.jobs``), opened by the project's workflow."""

import pytest

from generation.jobs.models import GenerationRequest
from governance.reviews.services import review_open, workflow_update
from tests.generation.jobs.factories import GenerationRequestFactory


def stage(name: str, role: str, approvals: int = 1) -> dict:
    return {"name": name, "role": role, "approvals": approvals, "kinds": ["prompt"]}


def open_prompt_review(tenant, stages: list[dict] | None = None):
    """A request waiting for prompt review and its review, by ``stages`` when given (set as
    the project's workflow by its admin), else by the default workflow."""
    if stages is not None:
        workflow_update(project=tenant.project, user=tenant.users["admin"], stages=stages)
    request = GenerationRequestFactory(
        project=tenant.project,
        created_by=tenant.users["creator"],
        model_profile=tenant.model,
        status=GenerationRequest.Status.AWAITING_REVIEW,
    )
    return review_open(
        target=request,
        kind="prompt",
        project=tenant.project,
        requested_by=tenant.users["creator"],
        title=request.prompt,
        facts={"prompt_review"},
    )


@pytest.fixture
def review(acme):
    """An open prompt review whose one stage (compliance) waits."""
    return open_prompt_review(acme)
