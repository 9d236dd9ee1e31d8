"""Reads of SCIM provisioning: the organisation a bearer token belongs to, and the
organisation's users and groups, filtered and paged as SCIM asks. Every read is scoped to
the one organisation the token belongs to."""

import uuid

from django.db.models import Prefetch
from django.utils import timezone
from scim2_models import NotFoundException, ScimFilter
from scim2_models.path import CompareOperator, Comparison

from imprimatur.scim.models import ScimGroup, ScimToken, ScimUser, token_digest
from imprimatur.scim.resources import (
    POLICY,
    ScimGroupResource,
    ScimUserResource,
    group_resource,
    user_resource,
)
from imprimatur.tenancy.models import Organization


def organization_for_token(raw: str):
    """The organisation whose SCIM token ``raw`` is, or None; notes when it was last used."""
    if not raw:
        return None
    token = ScimToken.objects.select_related("organization").filter(digest=token_digest(raw))
    token = token.first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.organization


def scim_token_get(*, organization: Organization):
    return ScimToken.objects.filter(organization=organization).first()


def provisioned_user_ids(*, organization: Organization) -> set[int]:
    """The accounts this organisation's provider provisioned (the members page marks them)."""
    return set(
        ScimUser.objects.filter(
            organization=organization, deprovisioned_at__isnull=True
        ).values_list("user_id", flat=True)
    )


def _users(organization):
    return ScimUser.objects.filter(
        organization=organization, deprovisioned_at__isnull=True
    ).prefetch_related(Prefetch("groups", queryset=ScimGroup.objects.order_by("display_name")))


def _groups(organization):
    return ScimGroup.objects.filter(organization=organization).prefetch_related(
        Prefetch("members", queryset=ScimUser.objects.order_by("created_at", "id"))
    )


def _pk(value: str):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def scim_user_get(*, organization: Organization, scim_id: str) -> ScimUser:
    link = _users(organization).filter(pk=_pk(scim_id)).first() if _pk(scim_id) else None
    if link is None:
        raise NotFoundException(detail=f"No user with id {scim_id}.")
    return link


def scim_group_get(*, organization: Organization, scim_id: str) -> ScimGroup:
    group = _groups(organization).filter(pk=_pk(scim_id)).first() if _pk(scim_id) else None
    if group is None:
        raise NotFoundException(detail=f"No group with id {scim_id}.")
    return group


# Filters that the database answers: "attribute eq value" on a column (the common provider
# queries: userName, externalId, displayName). Any other filter is evaluated on the resources.
_COLUMNS = {
    "user": {"username": ("user_name", "iexact"), "externalid": ("external_id", "exact")},
    "group": {"displayname": ("display_name", "iexact"), "externalid": ("external_id", "exact")},
}


def _column_filter(kind: str, parsed) -> dict | None:
    node = parsed.ast
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq:
        return None
    path = node.attr_path
    if path.sub_attr is not None or not isinstance(node.value, str):
        return None
    name = path.attr.lower()
    if name == "id":
        return {"pk": _pk(node.value)} if _pk(node.value) else {"pk__in": []}
    column = _COLUMNS[kind].get(name)
    if column is None:
        return None
    return {f"{column[0]}__{column[1]}": node.value}


def _page(kind: str, queryset, build, model, *, filter_text, start: int, count: int):
    """(total, resources of the page): ``start`` is 1-based, as in SCIM."""
    if filter_text:
        with POLICY:
            parsed = ScimFilter[model](filter_text)
        columns = _column_filter(kind, parsed)
        if columns is None:
            matching = [resource for row in queryset if parsed.match(resource := build(row))]
            return len(matching), matching[start - 1 : start - 1 + count]
        queryset = queryset.filter(**columns)
    total = queryset.count()
    rows = queryset[start - 1 : start - 1 + count] if count else []
    return total, [build(row) for row in rows]


def scim_user_page(*, organization, base_url: str, filter_text: str, start: int, count: int):
    return _page(
        "user",
        _users(organization),
        lambda link: user_resource(link, base_url),
        ScimUserResource,
        filter_text=filter_text,
        start=start,
        count=count,
    )


def scim_group_page(*, organization, base_url: str, filter_text: str, start: int, count: int):
    return _page(
        "group",
        _groups(organization),
        lambda group: group_resource(group, base_url),
        ScimGroupResource,
        filter_text=filter_text,
        start=start,
        count=count,
    )
