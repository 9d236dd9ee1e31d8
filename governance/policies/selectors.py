"""Reads for prompt policies, scoped to what the user may see."""

from django.db import models
from django.db.models import OuterRef, Subquery
from django.http import Http404

from governance.policies.models import Policy, PolicyVersion
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Action, user_may


def policy_list(*, user, action: str = Action.VIEW):
    return Policy.objects.restrict(user, action).select_related("organization", "project")


def policy_get(*, user, pk: int, action: str = Action.VIEW) -> Policy:
    """The policy if the user may act on it, else 404 (the same as for a missing one)."""
    policy = policy_list(user=user, action=action).filter(pk=pk).first()
    if policy is None:
        raise Http404("No such policy.")
    return policy


def policy_can_govern(*, user, organization: Organization) -> bool:
    """Whether the user may edit and publish the organisation's policies."""
    return user_may(user, Action.GOVERN, organization)


def policy_version_list(*, policy: Policy):
    return policy.versions.select_related("published_by").order_by("number")


def policy_version_get(*, policy: Policy, number: int) -> PolicyVersion:
    version = policy_version_list(policy=policy).filter(number=number).first()
    if version is None:
        raise Http404("No such version.")
    return version


def policy_version_latest(*, policy: Policy) -> PolicyVersion | None:
    return policy.versions.order_by("-number").first()


def organization_version_latest(*, organization_id: int) -> PolicyVersion | None:
    """The latest published version of the organisation policy, if any."""
    return (
        PolicyVersion.objects.filter(
            policy__organization_id=organization_id, policy__project__isnull=True
        )
        .order_by("-number")
        .first()
    )


def project_versions_latest(*, project_ids) -> dict[int, PolicyVersion]:
    """Project id → the latest published version of that project's policy."""
    newest = (
        PolicyVersion.objects.filter(policy=OuterRef("policy"))
        .order_by("-number")
        .values("number")[:1]
    )
    versions = PolicyVersion.objects.filter(
        policy__project_id__in=list(project_ids), number=Subquery(newest)
    ).select_related("policy")
    return {version.policy.project_id: version for version in versions}


def project_version_latest(*, project: BrandProject) -> PolicyVersion | None:
    return project_versions_latest(project_ids=[project.pk]).get(project.pk)


def project_judged_by_policy(*, project: BrandProject) -> bool:
    """Whether any published policy (the organisation's or the project's) judges prompts of
    the project; if not, every prompt is allowed unchecked and pages must say so."""
    return (
        PolicyVersion.objects.filter(policy__organization_id=project.organization_id)
        .filter(models.Q(policy__project__isnull=True) | models.Q(policy__project=project))
        .exists()
    )
