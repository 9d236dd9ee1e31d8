"""Who may do what: roles, actions, the organisation scope of every model, and `user_may`.

The one foundation the apps build on (NetBox's ``restrict()``, Sentry's scope maps): a user
holds roles in organisations; an action maps to the roles allowed to take it; every model
that belongs to an organisation derives from ``OrganizationScoped`` and names the path to
it, so ``Model.objects.restrict(user, action)`` scopes any query and ``user_may`` answers
for one object. Nothing else in the tree reads memberships to decide a permission.
"""

from django.db import models


class Role(models.TextChoices):
    CREATOR = "creator", "Creator"
    REVIEWER = "reviewer", "Reviewer"
    COMPLIANCE = "compliance", "Compliance officer"
    ADMIN = "admin", "Admin"
    AUDITOR = "auditor", "Auditor"


class Action(models.TextChoices):
    """What a user wants to do with an object; `restrict()` maps it to the roles allowed."""

    VIEW = "view"
    GENERATE = "generate"
    REVIEW = "review"
    MANAGE = "manage"
    AUDIT = "audit"
    GOVERN = "govern"  # edit and publish the governance rules: prompt policies
    SEE_QUARANTINED = "see_quarantined"  # images that failed the checks


ACTION_ROLES: dict[str, frozenset[str]] = {
    Action.VIEW: frozenset(Role.values),
    Action.GENERATE: frozenset({Role.CREATOR}),
    Action.REVIEW: frozenset({Role.REVIEWER, Role.COMPLIANCE}),
    Action.MANAGE: frozenset({Role.ADMIN}),
    Action.AUDIT: frozenset({Role.AUDITOR, Role.ADMIN}),
    Action.GOVERN: frozenset({Role.COMPLIANCE, Role.ADMIN}),
    Action.SEE_QUARANTINED: frozenset({Role.COMPLIANCE, Role.ADMIN}),
}


# A user's memberships are read through the reverse relation ``user.memberships`` (from
# tenancy's Membership model), so this module, which the models import, imports no model.


def _is_active_user(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active


class RestrictedQuerySet(models.QuerySet):
    """A queryset that can be scoped to what one user may do.

    Each model names the path from itself to its organisation in `organization_path`.
    """

    def restrict(self, user, action: str = Action.VIEW) -> "RestrictedQuerySet":
        if not _is_active_user(user):
            return self.none()
        if user.is_superuser:
            return self
        if action not in ACTION_ROLES:
            raise ValueError(f"Unknown action {action!r}; known: {sorted(ACTION_ROLES)}")
        organizations = user.memberships.filter(role__in=ACTION_ROLES[action])
        return self.filter(
            **{f"{self.model.organization_path}__in": organizations.values("organization_id")}
        )


class OrganizationScoped(models.Model):
    """The base of every model that belongs to an organisation: its scoped manager, once.

    A subclass names ``organization_path``, the lookup from the model to its organisation
    (``"organization"``, ``"project__organization"`` …)."""

    organization_path: str = "organization"
    objects = RestrictedQuerySet.as_manager()

    class Meta:
        abstract = True


def user_roles(user, organization_id: int) -> set[str]:
    """The roles ``user`` holds in one organisation (none for an inactive or anonymous user)."""
    if not _is_active_user(user):
        return set()
    return set(
        user.memberships.filter(organization_id=organization_id).values_list("role", flat=True)
    )


def user_roles_anywhere(user) -> set[str]:
    """The roles ``user`` holds in any organisation (what the navigation shows); none for an
    inactive or anonymous user. Not a permission: ask ``user_may`` for one object."""
    if not _is_active_user(user):
        return set()
    return set(user.memberships.values_list("role", flat=True))


def user_roles_by_organization(user) -> dict[int, set[str]]:
    """``user_roles`` for every organisation of ``user`` at once (one query): organisation id
    → roles."""
    roles: dict[int, set[str]] = {}
    if not _is_active_user(user):
        return roles
    for organization_id, role in user.memberships.values_list("organization_id", "role"):
        roles.setdefault(organization_id, set()).add(role)
    return roles


def user_may(user, action: str, obj: OrganizationScoped) -> bool:
    """Whether ``user`` may take ``action`` on ``obj``: the same answer as
    ``restrict(user, action)`` gives for a query that contains ``obj``."""
    return type(obj)._default_manager.restrict(user, action).filter(pk=obj.pk).exists()


def user_may_anywhere(user, action: str) -> bool:
    """Whether ``user`` may take ``action`` in at least one organisation (navigation, lists)."""
    if not _is_active_user(user):
        return False
    if action not in ACTION_ROLES:
        raise ValueError(f"Unknown action {action!r}; known: {sorted(ACTION_ROLES)}")
    return user.is_superuser or user.memberships.filter(role__in=ACTION_ROLES[action]).exists()
