"""The members API for organisation admins: list members, set a member's roles, invite by
e-mail, deactivate. The same services as the members page (audited there)."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from imprimatur.accounts.selectors import account_locks
from imprimatur.scim.selectors import provisioned_user_ids
from imprimatur.tenancy.invites import member_invite
from imprimatur.tenancy.members import member_deactivate, member_roles_set
from imprimatur.tenancy.permissions import Action, Role, user_may_anywhere
from imprimatur.tenancy.selectors import member_get, member_list, organization_managed_get

User = get_user_model()

ORGANIZATION_HELP = "The organisation's slug; may be left out by an admin of only one."


class ApiTokenSerializer(serializers.Serializer):
    created = serializers.DateTimeField()


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices))
    is_active = serializers.BooleanField()
    last_login = serializers.DateTimeField(allow_null=True)
    api_token = ApiTokenSerializer(allow_null=True, help_text="Never the key itself.")
    provisioned_by_scim = serializers.BooleanField()
    locked_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Set while too many failed logins keep the account locked: when the lock "
        "ends (null: until an admin unlocks it, POST …/unlock/). See `locked`.",
    )
    locked = serializers.BooleanField(help_text="Whether failed logins locked the account.")


class OrganizationSerializer(serializers.Serializer):
    organization = serializers.SlugField(required=False, help_text=ORGANIZATION_HELP)


class RolesSerializer(OrganizationSerializer):
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices),
        allow_empty=False,
        help_text="The member's whole set of roles (it replaces the current one).",
    )


class InviteSerializer(OrganizationSerializer):
    email = serializers.EmailField()
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=Role.choices), allow_empty=False
    )


class DeactivationSerializer(serializers.Serializer):
    roles = serializers.ListField(child=serializers.CharField(), help_text="The roles taken.")
    sessions = serializers.IntegerField(help_text="Web sessions ended.")
    account_disabled = serializers.BooleanField(
        help_text="Whether the account was disabled (it was in no other organisation)."
    )


def _organization(request, slug):
    if not user_may_anywhere(request.user, Action.MANAGE):
        raise PermissionDenied("Only an organisation's admins manage its members.")
    return organization_managed_get(user=request.user, slug=slug)


def _organization_of_body(request):
    """The organisation the body names (or the admin's only one): the permission is checked
    before the rest of the body is judged."""
    if not user_may_anywhere(request.user, Action.MANAGE):
        raise PermissionDenied("Only an organisation's admins manage its members.")
    serializer = OrganizationSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return _organization(request, serializer.validated_data.get("organization"))


def _member_data(member, provisioned: set[int], locks: dict) -> dict:
    token = getattr(member, "auth_token", None)
    roles = {membership.role for membership in member.organization_memberships}
    return {
        "id": member.pk,
        "username": member.get_username(),
        "email": member.email,
        "name": member.get_full_name(),
        "roles": [value for value in Role.values if value in roles],
        "is_active": member.is_active,
        "last_login": member.last_login,
        "api_token": {"created": token.created} if token else None,
        "provisioned_by_scim": member.pk in provisioned,
        "locked": member.pk in locks,
        "locked_until": locks[member.pk].locked_until if member.pk in locks else None,
    }


def _one(organization, user_id: int) -> dict:
    member = member_get(organization=organization, user_id=user_id)
    return MemberSerializer(
        _member_data(
            member, provisioned_user_ids(organization=organization), account_locks([member])
        )
    ).data


class MemberListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("organization", str, description=ORGANIZATION_HELP)],
        responses=MemberSerializer(many=True),
    )
    def get(self, request):
        """The organisation's members with their roles, last sign-in and API token."""
        organization = _organization(request, request.query_params.get("organization"))
        provisioned = provisioned_user_ids(organization=organization)
        people = list(member_list(organization=organization))
        locks = account_locks(people)
        members = [_member_data(member, provisioned, locks) for member in people]
        return Response(MemberSerializer(members, many=True).data)


class MemberDetailView(APIView):
    @extend_schema(request=RolesSerializer, responses=MemberSerializer)
    def patch(self, request, user_id: int):
        """Set a member's roles (all of them). Taking the admin role from the last admin is
        refused with 409."""
        # Who may, and whose member, before judging the roles: 403 for a non-admin, 404 for
        # another organisation's member, whatever the body.
        organization = _organization_of_body(request)
        member = member_get(organization=organization, user_id=user_id)
        serializer = RolesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member_roles_set(
            organization=organization,
            user=member,
            roles=serializer.validated_data["roles"],
            actor=request.user,
        )
        return Response(_one(organization, user_id))


class MemberInviteView(APIView):
    @extend_schema(request=InviteSerializer, responses={201: MemberSerializer})
    def post(self, request):
        """Invite someone by e-mail with roles: an existing account (by e-mail) or a new one
        without a password; the e-mail links to the page where they choose one."""
        organization = _organization_of_body(request)  # 403 for a non-admin, before the input
        serializer = InviteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, _created = member_invite(
            organization=organization,
            email=serializer.validated_data["email"],
            roles=serializer.validated_data["roles"],
            actor=request.user,
        )
        return Response(_one(organization, user.pk), status=status.HTTP_201_CREATED)


class MemberDeactivateView(APIView):
    @extend_schema(request=OrganizationSerializer, responses=DeactivationSerializer)
    def post(self, request, user_id: int):
        """Remove a member from the organisation: all roles, sessions and API token; the
        account is disabled when it is in no other organisation. 409 for the last admin."""
        organization = _organization_of_body(request)
        member = member_get(organization=organization, user_id=user_id)
        result = member_deactivate(organization=organization, user=member, actor=request.user)
        return Response(DeactivationSerializer(result).data)
