"""The members page: an organisation's admins see its people (roles, last sign-in, API
token, whether SCIM provisioned them), invite people by e-mail, change roles, revoke tokens,
deactivate members, and manage the organisation's SCIM token. Every change goes through
``imprimatur.tenancy.members`` / ``invites`` (audited there) or ``imprimatur.scim.services``."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from imprimatur.accounts.selectors import account_locks
from imprimatur.accounts.services import account_unlock
from imprimatur.errors import LastAdmin
from imprimatur.scim.selectors import provisioned_user_ids, scim_token_get
from imprimatur.scim.services import scim_roles_resync, scim_token_revoke, scim_token_rotate
from imprimatur.tenancy.group_roles import group_role_add, group_role_remove
from imprimatur.tenancy.invites import member_invite, member_token_revoke
from imprimatur.tenancy.members import member_deactivate, member_roles_set
from imprimatur.tenancy.models import GroupRole
from imprimatur.tenancy.permissions import Action, Role, user_may_anywhere
from imprimatur.tenancy.selectors import (
    member_get,
    member_list,
    organization_managed_get,
    organizations_managed,
)

# The session key under which a new token waits to be shown once on the next page (bandit:
# a key name, not a secret).
NEW_SCIM_TOKEN = "new_scim_token"  # nosec B105


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        choices=Role.choices, required=False, widget=forms.CheckboxSelectMultiple
    )


class InviteForm(RolesForm):
    email = forms.EmailField(label="E-mail", help_text="They get an e-mail with how to sign in.")

    field_order = ["email", "roles"]


def _managed_organization(request, slug: str | None):
    """The organisation the admin works on: 403 for someone who administers none, 404 for an
    organisation they do not administer."""
    if not user_may_anywhere(request.user, Action.MANAGE):
        raise PermissionDenied("Only an organisation's admins manage its members.")
    if not slug:
        slug = organizations_managed(user=request.user).values_list("slug", flat=True).first()
    return organization_managed_get(user=request.user, slug=slug)


def _back(organization):
    return redirect(f"{reverse('web:members')}?organization={organization.slug}")


def _member_rows(request, organization):
    provisioned = provisioned_user_ids(organization=organization)
    rows = []
    people = list(member_list(organization=organization))
    locks = account_locks(people)
    for member in people:
        roles = {membership.role for membership in member.organization_memberships}
        rows.append(
            {
                "user": member,
                "roles": [label for value, label in Role.choices if value in roles],
                "choices": [(value, label, value in roles) for value, label in Role.choices],
                "token": getattr(member, "auth_token", None),
                "scim": member.pk in provisioned,
                "is_self": member.pk == request.user.pk,
                "lock": locks.get(member.pk),
            }
        )
    return rows, provisioned


def _page(request, organization, *, invite_form=None, status=200):
    rows, provisioned = _member_rows(request, organization)
    member_ids = {row["user"].pk for row in rows}
    return render(
        request,
        "web/members.html",
        {
            "organization": organization,
            "organizations": organizations_managed(user=request.user),
            "members": rows,
            "invite_form": invite_form or InviteForm(),
            "role_choices": Role.choices,
            "scim_token": scim_token_get(organization=organization),
            "new_scim_token": request.session.pop(NEW_SCIM_TOKEN, None),
            "scim_base_url": request.build_absolute_uri("/scim/v2/"),
            "group_roles": GroupRole.objects.filter(organization=organization),
            "provisioned_without_role": len(provisioned - member_ids),
        },
        status=status,
    )


@login_required
def members_page(request):
    organization = _managed_organization(request, request.GET.get("organization"))
    return _page(request, organization)


@login_required
@require_POST
def member_invite_view(request, slug: str):
    organization = _managed_organization(request, slug)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            user, created = member_invite(
                organization=organization,
                email=form.cleaned_data["email"],
                roles=form.cleaned_data["roles"],
                actor=request.user,
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                f"{user.get_username()} was {'invited' if created else 'added'}; an e-mail "
                "tells them how to sign in.",
            )
            return _back(organization)
    return _page(request, organization, invite_form=form, status=400)


@login_required
@require_POST
def member_roles_view(request, slug: str, user_id: int):
    organization = _managed_organization(request, slug)
    member = member_get(organization=organization, user_id=user_id)
    form = RolesForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose roles from the list.")
        return _back(organization)
    roles = form.cleaned_data["roles"]
    if not roles:
        messages.error(
            request,
            f"Keep at least one role for {member.get_username()}, or deactivate them to remove "
            "them from the organisation.",
        )
        return _back(organization)
    try:
        granted, revoked = member_roles_set(
            organization=organization, user=member, roles=roles, actor=request.user
        )
    except LastAdmin as error:
        messages.error(request, str(error))
    else:
        if granted or revoked:
            messages.success(request, f"The roles of {member.get_username()} were saved.")
    return _back(organization)


@login_required
@require_http_methods(["GET", "POST"])
def member_deactivate_view(request, slug: str, user_id: int):
    organization = _managed_organization(request, slug)
    member = member_get(organization=organization, user_id=user_id)
    if request.method == "GET":
        return render(
            request,
            "web/member_deactivate.html",
            {
                "organization": organization,
                "member": member,
                "roles": [
                    label
                    for value, label in Role.choices
                    if value in {m.role for m in member.organization_memberships}
                ],
            },
        )
    try:
        result = member_deactivate(organization=organization, user=member, actor=request.user)
    except LastAdmin as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            f"{member.get_username()} was removed from {organization.name}; "
            f"{result['sessions']} session(s) and their API token were ended"
            + (" and the account disabled." if result["account_disabled"] else "."),
        )
    return _back(organization)


@login_required
@require_POST
def member_token_revoke_view(request, slug: str, user_id: int):
    organization = _managed_organization(request, slug)
    member = member_get(organization=organization, user_id=user_id)
    if member_token_revoke(organization=organization, user=member, actor=request.user):
        messages.success(request, f"The API token of {member.get_username()} was revoked.")
    return _back(organization)


@login_required
@require_POST
def member_unlock_view(request, slug: str, user_id: int):
    """Lift the lock that failed logins put on a member's account (audited)."""
    organization = _managed_organization(request, slug)
    member = member_get(organization=organization, user_id=user_id)
    if account_unlock(user=member, actor=request.user, via="members"):
        messages.success(request, f"{member.get_username()} can sign in again.")
    else:
        messages.info(request, f"{member.get_username()} was not locked.")
    return _back(organization)


@login_required
@require_POST
def scim_token_view(request, slug: str):
    organization = _managed_organization(request, slug)
    if request.POST.get("action") == "revoke":
        if scim_token_revoke(organization=organization, actor=request.user):
            messages.success(request, "The SCIM token was revoked; provisioning stops.")
    else:
        request.session[NEW_SCIM_TOKEN] = scim_token_rotate(
            organization=organization, actor=request.user
        )
        messages.success(request, "A new SCIM token was created. Copy it now.")
    return _back(organization)


def _resynced(request, organization, change) -> None:
    """Make a group → role change and set the provisioned users' roles again, together: a
    change that would take the last admin's role is refused as a whole."""
    try:
        with transaction.atomic():
            change()
            scim_roles_resync(organization=organization)
    except LastAdmin as error:
        messages.error(request, f"Not changed: {error}")
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, "The groups' roles were saved; provisioned members' roles follow."
        )


@login_required
@require_POST
def group_role_add_view(request, slug: str):
    organization = _managed_organization(request, slug)
    _resynced(
        request,
        organization,
        lambda: group_role_add(
            organization=organization,
            group=request.POST.get("group", ""),
            role=request.POST.get("role", ""),
            actor=request.user,
        ),
    )
    return _back(organization)


@login_required
@require_POST
def group_role_remove_view(request, slug: str, pk: int):
    organization = _managed_organization(request, slug)
    mapping = get_object_or_404(GroupRole, pk=pk, organization=organization)
    _resynced(request, organization, lambda: group_role_remove(mapping=mapping, actor=request.user))
    return _back(organization)
