"""Writes for tenancy: organisations, roles, projects and API tokens. Each writes its audit
event in the same transaction."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify
from rest_framework.authtoken.models import Token

from governance.audit.services import audit_record
from imprimatur.tenancy.models import BrandProject, Membership, Organization, Role

User = get_user_model()


@transaction.atomic
def organization_create(*, name: str, slug: str = "", actor=None) -> Organization:
    organization = Organization(name=name, slug=slug or slugify(name))
    organization.full_clean()
    organization.save()
    audit_record(
        action="tenancy.organization.create",
        actor=actor,
        organization=organization,
        target=organization,
    )
    return organization


@transaction.atomic
def membership_grant(*, organization: Organization, user, role: str, actor=None) -> Membership:
    """Give `user` the `role` in `organization`; granting a role twice changes nothing."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; roles are {', '.join(Role.values)}.")
    membership, created = Membership.objects.get_or_create(
        user=user, organization=organization, role=role
    )
    if created:
        audit_record(
            action="tenancy.membership.grant",
            actor=actor,
            organization=organization,
            target=membership,
            data={"user": user.get_username(), "role": role},
        )
    return membership


@transaction.atomic
def project_create(
    *,
    organization: Organization,
    name: str,
    slug: str = "",
    description: str = "",
    palette: list[str] | None = None,
    on_brand_descriptors: list[str] | None = None,
    off_brand_descriptors: list[str] | None = None,
    actor=None,
) -> BrandProject:
    project = BrandProject(
        organization=organization,
        name=name,
        slug=slug or slugify(name),
        description=description,
        palette=palette or [],
        on_brand_descriptors=on_brand_descriptors or [],
        off_brand_descriptors=off_brand_descriptors or [],
    )
    project.full_clean()
    project.save()
    audit_record(
        action="tenancy.project.create",
        actor=actor,
        organization=organization,
        target=project,
        data={"slug": project.slug},
    )
    return project


@transaction.atomic
def api_token_create(*, user) -> Token:
    """A new API token for `user`, replacing any earlier one (one token per user)."""
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit_record(action="auth.token.create", actor=user, target=user)
    return token


@transaction.atomic
def api_token_revoke(*, user) -> bool:
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        audit_record(action="auth.token.revoke", actor=user, target=user)
    return bool(deleted)
