"""Unlocking a member's account in the API: ``POST /api/v1/members/<user_id>/unlock/``."""

from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from imprimatur.accounts.services import account_unlock


class MemberUnlockView(APIView):
    """Lift the lock that failed logins put on a member's account (superusers, and admins
    of an organisation the member belongs to; audited). Answers whether a lock was lifted;
    unlocking an account that is not locked changes nothing."""

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "MemberUnlock",
                {
                    "user": serializers.IntegerField(),
                    "username": serializers.CharField(),
                    "unlocked": serializers.BooleanField(),
                },
            ),
            403: OpenApiResponse(description="Not an admin of the member's organisation."),
            404: OpenApiResponse(description="No such member among those you can see."),
        },
    )
    def post(self, request, user_id: int):
        user = get_user_model().objects.filter(pk=user_id).first()
        if user is None:
            raise Http404("No such member.")
        unlocked = account_unlock(user=user, actor=request.user, via="api")
        return Response({"user": user.pk, "username": user.get_username(), "unlocked": unlocked})
