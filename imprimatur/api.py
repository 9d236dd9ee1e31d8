"""API plumbing shared by every app: one error format, pagination, auth-token endpoint.

Every 4xx answer has the same shape::

    {"status": 400, "code": "invalid", "detail": "…", "errors": {"width": ["…"]}}

`errors` maps each offending field to its messages (empty for errors that concern no
field); `code` is DRF's machine-readable code. An input that a policy refuses
(``PolicyRefused``) adds ``data``, what the policy found (for a prompt: the matches).
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from imprimatur.accounts.services import password_login
from imprimatur.errors import (
    AccountLocked,
    AlreadyDecided,
    InvalidTransition,
    LastAdmin,
    LoginThrottled,
    PolicyRefused,
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object is not in a state that allows this."
    default_code = "conflict"


class Locked(exceptions.APIException):
    """A username locked after failed logins (``AccountLocked``); ``wait``: seconds until a
    timed lock ends (sent as Retry-After), None when only an admin ends it."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = "This account is locked."
    default_code = "account_locked"

    def __init__(self, detail=None, wait: int | None = None):
        super().__init__(detail)
        self.wait = wait


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


def _flatten(prefix: str, detail, errors: dict[str, list[str]]) -> None:
    """``errors[path]`` gets the messages of ``detail``, nested dicts and lists of items as
    ``field.key`` and ``field[index]`` (DRF gives a list field's item errors as ``{index: …}``)."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            _flatten(path, value, errors)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):  # a nested serializer's items (many=True)
                _flatten(f"{prefix}[{index}]", item, errors)
            else:
                errors.setdefault(prefix or "non_field_errors", []).append(str(item))
    else:
        errors.setdefault(prefix or "non_field_errors", []).append(str(detail))


def _field_errors(detail) -> dict[str, list[str]]:
    """Field → messages, nested item errors under readable paths (``palette[0]``)."""
    errors: dict[str, list[str]] = {}
    _flatten("", detail, errors)
    return errors


def exception_handler(exc, context):
    """DRF's handler, then reshaped into the one error format."""
    extra = {"data": exc.data} if isinstance(exc, PolicyRefused) else {}
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, InvalidTransition | AlreadyDecided | LastAdmin):
        exc = Conflict(str(exc))
    elif isinstance(exc, LoginThrottled):
        exc = exceptions.Throttled(wait=exc.retry_after, detail=str(exc))
    elif isinstance(exc, AccountLocked):
        wait = None
        if exc.until is not None:
            from django.utils import timezone

            wait = max(1, int((exc.until - timezone.now()).total_seconds()))
        exc = Locked(str(exc), wait=wait)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        detail = "Invalid input: " + "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in errors.items()
        )
        code = "invalid"
    else:
        errors = {}
        detail = str(exc.detail) if hasattr(exc, "detail") else str(exc)
        codes = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        code = codes if isinstance(codes, str) else "error"
    response.data = {
        "status": response.status_code,
        "code": code,
        "detail": detail,
        "errors": errors,
        **extra,
    }
    return response


def error_response(status_code: int, code: str, detail: str) -> JsonResponse:
    """The error format for answers that DRF does not produce (404 on unknown API paths)."""
    return JsonResponse(
        {"status": status_code, "code": code, "detail": detail, "errors": {}}, status=status_code
    )


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, style={"input_type": "password"}
    )


class ObtainTokenView(APIView):
    """Exchange a username and password for the user's API token (created if missing).

    Throttled like the login page and sharing its counts (``password_login``): 429 with
    Retry-After past the failures allowed per address or username, 403 ``account_locked``
    for a locked account; and at most ``TOKEN_THROTTLE_RATE`` requests per address."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "token"
    serializer_class = TokenRequestSerializer

    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = password_login(
            request=request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]},
                code="authorization",
            )
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key}, status=status.HTTP_200_OK)
