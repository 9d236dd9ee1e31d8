"""The SCIM 2.0 side of provisioning, built on ``scim2-models`` (pydantic models of RFC 7643
and 7644, also what ``scim2-tester`` checks servers with): the User and Group schemas this
server serves, their resource models, the discovery documents, and the conversion of stored
rows to resources.

The schemas are the standard ones cut down to the attributes the platform keeps, so what
``/Schemas`` publishes, what requests are validated against and what responses hold are the
same thing."""

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Group,
    Meta,
    Patch,
    Resource,
    ResourceType,
    Schema,
    ScimPolicy,
    ServiceProviderConfig,
    Sort,
    User,
)

#: How requests are read: attributes this server does not keep are ignored (identity
#: providers send many), and the PATCH forms Microsoft Entra sends are understood.
POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

#: Page size of list answers when the client names none, and the most it may ask for.
DEFAULT_COUNT = 100
MAX_COUNT = 200


def _cut_schema(model, keep: dict[str, set[str] | None]) -> Schema:
    """``model``'s standard schema with only the attributes (and sub-attributes) in ``keep``."""
    schema = model.to_schema()
    attributes = []
    for attribute in schema.attributes or []:
        if attribute.name not in keep:
            continue
        wanted = keep[attribute.name]
        if wanted is not None and attribute.sub_attributes:
            attribute.sub_attributes = [
                sub for sub in attribute.sub_attributes if sub.name in wanted
            ]
        attributes.append(attribute)
    schema.attributes = attributes
    return schema


USER_SCHEMA = _cut_schema(
    User,
    {
        "userName": None,
        "name": None,
        "displayName": None,
        "emails": None,
        "active": None,
        "groups": None,  # read-only: the groups the user is a member of
    },
)
# A member's "display" is left out: the server would answer its own, not the one sent.
GROUP_SCHEMA = _cut_schema(Group, {"displayName": None, "members": {"value", "$ref", "type"}})
# Members are users: groups do not nest here.
for _sub in GROUP_SCHEMA.attributes[1].sub_attributes:
    if _sub.name == "$ref":
        _sub.reference_types = ["User"]
    elif _sub.name == "type":
        _sub.canonical_values = ["User"]

ScimUserResource = Resource.from_schema(USER_SCHEMA)
ScimGroupResource = Resource.from_schema(GROUP_SCHEMA)

USER_SCHEMA_ID = str(USER_SCHEMA.id)
GROUP_SCHEMA_ID = str(GROUP_SCHEMA.id)


def service_provider_config(base_url: str) -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="The organisation's SCIM token, created by one of its admins on "
                "the members page or with `manage.py scim_token`.",
                primary=True,
            )
        ],
        meta=Meta(
            resource_type="ServiceProviderConfig", location=f"{base_url}/ServiceProviderConfig"
        ),
    )


def resource_types(base_url: str) -> list[ResourceType]:
    return [
        ResourceType(
            id=name,
            name=name,
            description=description,
            endpoint=f"/{name}s",
            schema_=schema,
            meta=Meta(resource_type="ResourceType", location=f"{base_url}/ResourceTypes/{name}"),
        )
        for name, description, schema in (
            ("User", "A person of the organisation.", USER_SCHEMA_ID),
            ("Group", "A group whose name maps to roles (GroupRole).", GROUP_SCHEMA_ID),
        )
    ]


def schemas(base_url: str) -> list[Schema]:
    published = []
    for schema in (USER_SCHEMA, GROUP_SCHEMA):
        copy = schema.model_copy(deep=True)
        copy.meta = Meta(resource_type="Schema", location=f"{base_url}/Schemas/{schema.id}")
        published.append(copy)
    return published


def _meta(row, kind: str, base_url: str) -> dict:
    return {
        "resourceType": kind,
        "created": row.created_at.isoformat(),
        "lastModified": row.updated_at.isoformat(),
        "location": f"{base_url}/{kind}s/{row.id}",
    }


def user_resource(link, base_url: str):
    """The SCIM User of a provisioned-user row: the attributes as the provider sent them, with
    the id, userName, externalId, active flag and groups the server keeps."""
    payload = {
        **link.attributes,
        "schemas": [USER_SCHEMA_ID],
        "id": str(link.id),
        "userName": link.user_name,
        "groups": [
            {
                "value": str(group.id),
                "$ref": f"{base_url}/Groups/{group.id}",
                "display": group.display_name,
                "type": "direct",
            }
            for group in link.groups.all()
        ],
        "meta": _meta(link, "User", base_url),
    }
    if link.external_id:
        payload["externalId"] = link.external_id
    return ScimUserResource.model_validate(payload, scim_policy=POLICY)


def group_resource(group, base_url: str):
    payload = {
        "schemas": [GROUP_SCHEMA_ID],
        "id": str(group.id),
        "displayName": group.display_name,
        "members": [
            {"value": str(member.id), "$ref": f"{base_url}/Users/{member.id}", "type": "User"}
            for member in group.members.all()
        ],
        "meta": _meta(group, "Group", base_url),
    }
    if group.external_id:
        payload["externalId"] = group.external_id
    return ScimGroupResource.model_validate(payload, scim_policy=POLICY)


def stored_user_attributes(resource) -> dict:
    """What a User resource from a request keeps in ``ScimUser.attributes``: its attributes
    less those the row keeps in columns (or computes)."""
    data = resource.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    # "active" stays as sent (absent when not sent); the row's column is what the platform
    # acts on (absent counts as active).
    for key in ("schemas", "id", "meta", "userName", "externalId", "groups"):
        data.pop(key, None)
    return data
