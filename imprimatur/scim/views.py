"""The SCIM 2.0 endpoints (RFC 7644) under ``/scim/v2/``: discovery, Users and Groups.

Every request carries an organisation's bearer token and sees only that organisation's
users and groups. Answers and errors are SCIM JSON (``application/scim+json``); errors have
SCIM's ``status``, ``scimType`` and ``detail``. Requests are read with ``scim2-models``
(``resources.py``); writes go through ``services.py``."""

import functools
import json

import pydantic
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    InvalidValueException,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    ResponseParameters,
    SCIMException,
)

from imprimatur.errors import LastAdmin
from imprimatur.scim import selectors, services
from imprimatur.scim.resources import (
    DEFAULT_COUNT,
    MAX_COUNT,
    POLICY,
    ScimGroupResource,
    ScimUserResource,
    group_resource,
    resource_types,
    schemas,
    service_provider_config,
    user_resource,
)

CONTENT_TYPE = "application/scim+json"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def _answer(data, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _error(status: int, detail: str, scim_type: str | None = None, headers=None) -> HttpResponse:
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return _answer(error.model_dump(), status=status, headers=headers)


def _error_from(exc: SCIMException) -> HttpResponse:
    error = exc.to_error()
    return _answer(error.model_dump(), status=error.status or 400)


def _base_url(request) -> str:
    return request.build_absolute_uri(reverse("scim:service-provider-config")).rsplit("/", 1)[0]


def _body(request) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntaxException(detail="The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="The request body must be a JSON object.")
    return body


def _bearer(request) -> str:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


def scim_endpoint(*methods: str):
    """An endpoint that answers ``methods``: it authenticates the organisation's token,
    reads requests under the server's policy, and answers every error in SCIM's format."""

    def decorate(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            organization = selectors.organization_for_token(_bearer(request))
            if organization is None:
                return _error(
                    401,
                    "A valid SCIM bearer token is required (Authorization: Bearer …).",
                    headers={"WWW-Authenticate": 'Bearer realm="SCIM"'},
                )
            if request.method not in methods:
                return _error(
                    405,
                    f"{request.method} is not allowed here; allowed: {', '.join(methods)}.",
                    headers={"Allow": ", ".join(methods)},
                )
            try:
                with POLICY:
                    return view(request, organization, *args, **kwargs)
            except SCIMException as exc:
                return _error_from(exc)
            except pydantic.ValidationError as exc:
                error = Error.from_validation_errors(exc)[0]
                return _answer(error.model_dump(), status=error.status or 400)
            except LastAdmin as exc:
                return _error(409, str(exc))

        return wrapped

    return decorate


def _response_parameters(request) -> ResponseParameters | None:
    """The ``attributes`` and ``excludedAttributes`` the client asked for, if any."""
    given = {
        name: [part.strip() for part in request.GET[name].split(",") if part.strip()]
        for name in ("attributes", "excludedAttributes")
        if request.GET.get(name, "").strip()
    }
    return ResponseParameters.model_validate(given) if given else None


def _dump(request, resource, context=Context.RESOURCE_QUERY_RESPONSE) -> dict:
    return resource.model_dump(scim_ctx=context, response_parameters=_response_parameters(request))


def _positive(request, name: str, default: int, *, minimum: int) -> int:
    value = request.GET.get(name)
    if value in (None, ""):
        return default
    try:
        return max(minimum, int(value))
    except ValueError:
        raise InvalidValueException(detail=f"{name} must be a whole number.") from None


def _list_answer(request, total: int, start: int, resources) -> HttpResponse:
    return _answer(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(resources),
            "Resources": [_dump(request, resource) for resource in resources],
        }
    )


def _static_list(items) -> HttpResponse:
    dumped = [item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for item in items]
    return _answer(
        {
            "schemas": [LIST_SCHEMA],
            "totalResults": len(dumped),
            "startIndex": 1,
            "itemsPerPage": len(dumped),
            "Resources": dumped,
        }
    )


# -- Discovery -----------------------------------------------------------------------------------


@scim_endpoint("GET")
def service_provider_config_view(request, organization):
    config = service_provider_config(_base_url(request))
    return _answer(config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@scim_endpoint("GET")
def resource_type_list(request, organization, name: str = ""):
    types = resource_types(_base_url(request))
    if not name:
        return _static_list(types)
    for resource_type in types:
        if resource_type.id == name:
            return _answer(resource_type.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"No resource type {name}.")


@scim_endpoint("GET")
def schema_list(request, organization, schema_id: str = ""):
    published = schemas(_base_url(request))
    if not schema_id:
        return _static_list(published)
    for schema in published:
        if str(schema.id) == schema_id:
            return _answer(schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    raise NotFoundException(detail=f"No schema {schema_id}.")


@scim_endpoint("POST")
def search_all(request, organization):
    raise NotImplementedException(
        detail="Searching several resource types at once is not supported; query /Users or /Groups."
    )


@scim_endpoint("GET", "POST", "PUT", "PATCH", "DELETE")
def unknown(request, organization, rest: str = ""):
    raise NotFoundException(detail=f"There is no SCIM endpoint /{rest}.")


# -- Users and groups ----------------------------------------------------------------------------


def _collection(request, organization, *, page, model, create, build):
    base_url = _base_url(request)
    if request.method == "GET":
        start = _positive(request, "startIndex", 1, minimum=1)
        count = min(_positive(request, "count", DEFAULT_COUNT, minimum=0), MAX_COUNT)
        total, resources = page(
            organization=organization,
            base_url=base_url,
            filter_text=request.GET.get("filter", "").strip(),
            start=start,
            count=count,
        )
        return _list_answer(request, total, start, resources)
    resource = model.model_validate(_body(request), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    created = build(create(organization=organization, resource=resource), base_url)
    location = created.meta.location
    return _answer(
        _dump(request, created, Context.RESOURCE_CREATION_RESPONSE),
        status=201,
        headers={"Location": location},
    )


def _item(request, row, *, model, build, replace, delete):
    base_url = _base_url(request)
    if request.method == "GET":
        return _answer(_dump(request, build(row, base_url)))
    if request.method == "DELETE":
        delete(row)
        return HttpResponse(status=204)
    current = build(row, base_url)
    if request.method == "PUT":
        resource = model.model_validate(
            _body(request), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
        )
        changed = resource.replace(current)
        context = Context.RESOURCE_REPLACEMENT_RESPONSE
    else:
        patch = PatchOp[model].model_validate(
            _body(request), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        resource = current.model_copy(deep=True)
        changed = patch.patch(resource)
        context = Context.RESOURCE_PATCH_RESPONSE
    if not changed:  # providers repeat themselves: nothing to write or audit
        return _answer(_dump(request, current, context))
    row = replace(row, resource)
    return _answer(_dump(request, build(type(row).objects.get(pk=row.pk), base_url), context))


@scim_endpoint("GET", "POST")
def user_collection(request, organization):
    return _collection(
        request,
        organization,
        page=selectors.scim_user_page,
        model=ScimUserResource,
        create=services.scim_user_create,
        build=user_resource,
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def user_item(request, organization, scim_id: str):
    return _item(
        request,
        selectors.scim_user_get(organization=organization, scim_id=scim_id),
        model=ScimUserResource,
        build=user_resource,
        replace=lambda link, resource: services.scim_user_replace(link=link, resource=resource),
        delete=lambda link: services.scim_user_delete(link=link),
    )


@scim_endpoint("GET", "POST")
def group_collection(request, organization):
    return _collection(
        request,
        organization,
        page=selectors.scim_group_page,
        model=ScimGroupResource,
        create=services.scim_group_create,
        build=group_resource,
    )


@scim_endpoint("GET", "PUT", "PATCH", "DELETE")
def group_item(request, organization, scim_id: str):
    return _item(
        request,
        selectors.scim_group_get(organization=organization, scim_id=scim_id),
        model=ScimGroupResource,
        build=group_resource,
        replace=lambda group, resource: services.scim_group_replace(group=group, resource=resource),
        delete=lambda group: services.scim_group_delete(group=group),
    )
