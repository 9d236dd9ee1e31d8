"""The tenancy matrix: every URL pattern of the project, as every role of organisation A and
of organisation B.

``MATRIX`` has one entry per URL pattern (its route as ``get_resolver()`` spells it). An
entry says how to build the URL for A's objects and, method by method, which roles of A may
use it. The test then asks:

- as each role of A: allowed (any answer but 401, 403, 404; never a 5xx) or denied (403 or
  404) as the entry says;
- for an ``OBJECT`` entry (the URL names A's object), as every role of B: denied, 403 or 404;
- for an ``OWN`` entry (the URL names no object: lists, forms, the user's own things), as
  every role of B: allowed or denied as for A's same role, and the answer holds nothing of A.

No answer to B may hold A's data: A's marker words (its prompt, project name and slug,
organisation slug) never appear in it.

**A new URL pattern fails ``test_every_url_pattern_has_a_matrix_entry`` until it has an
entry here** (or a line in ``SKIPPED`` with the reason). To add one: the route as printed in
the failure, ``Entry(OBJECT or OWN, "url with {placeholders}", {"GET": ROLES, …})``, with
placeholders from ``World.placeholders`` (add the object there when a new kind is needed).
Roles: ``ALL``, ``NONE`` or a set of role names.
"""

import io
from dataclasses import dataclass

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from PIL import Image

from generation.jobs.models import Asset, PushDestination
from generation.jobs.sharing import share_link_create, sharing_configure
from generation.styles.models import StyleSample
from generation.styles.presets import preset_save
from governance.audit.models import AuditEvent
from governance.policies.services import policy_create, policy_publish
from governance.reviews.models import Notification
from imprimatur.tenancy.models import BrandReferenceImage, GroupRole
from imprimatur.webhooks.models import Delivery, Endpoint
from imprimatur.webhooks.services import secret_new
from tests.generation.jobs.factories import GenerationJobFactory
from tests.generation.styles.helpers import style_create
from tests.governance.policies.factories import document, term_rule
from tests.governance.reviews.conftest import open_prompt_review

ROLES = ("creator", "reviewer", "compliance", "admin", "auditor")
ALL = frozenset(ROLES)
NONE: frozenset[str] = frozenset()
CREATOR = frozenset({"creator"})
ADMIN = frozenset({"admin"})
REVIEWERS = frozenset({"reviewer", "compliance"})
AUDITORS = frozenset({"auditor", "admin"})
GOVERNORS = frozenset({"compliance", "admin"})  # policies; quarantined images; calibration

OBJECT, OWN = "object", "own"


@dataclass(frozen=True)
class Entry:
    kind: str  # OBJECT: the URL names an object of A; OWN: it names none
    url: str  # with {placeholders} of World.placeholders
    methods: dict  # method -> roles of A that may use it


MATRIX: dict[str, Entry] = {
    # --- The API -------------------------------------------------------------------------------
    "api/v1/auth/token/": Entry(OWN, "/api/v1/auth/token/", {"POST": ALL}),
    "api/v1/projects/": Entry(OWN, "/api/v1/projects/", {"GET": ALL}),
    "api/v1/projects/<slug:slug>/": Entry(
        OBJECT, "/api/v1/projects/{slug}/", {"GET": ALL, "PATCH": ADMIN}
    ),
    "api/v1/projects/<slug:slug>/requests/": Entry(
        OBJECT, "/api/v1/projects/{slug}/requests/", {"GET": ALL, "POST": CREATOR}
    ),
    "api/v1/projects/<slug:slug>/workflow/": Entry(
        OBJECT, "/api/v1/projects/{slug}/workflow/", {"GET": REVIEWERS | ADMIN, "PUT": ADMIN}
    ),
    "api/v1/requests/": Entry(OWN, "/api/v1/requests/", {"GET": ALL, "POST": ALL}),
    "api/v1/requests/<int:pk>/": Entry(OBJECT, "/api/v1/requests/{request}/", {"GET": ALL}),
    "api/v1/requests/<int:pk>/cancel/": Entry(
        OBJECT, "/api/v1/requests/{request}/cancel/", {"POST": CREATOR | ADMIN}
    ),
    "api/v1/requests/<int:pk>/rerun/": Entry(
        OBJECT, "/api/v1/requests/{request}/rerun/", {"POST": CREATOR}
    ),
    "api/v1/models/": Entry(OWN, "/api/v1/models/", {"GET": ALL, "POST": ADMIN}),
    "api/v1/models/<int:pk>/": Entry(
        OBJECT, "/api/v1/models/{model}/", {"GET": ALL, "PATCH": ADMIN}
    ),
    "api/v1/assets/<int:pk>/": Entry(OBJECT, "/api/v1/assets/{asset}/", {"GET": ALL}),
    "api/v1/assets/<int:pk>/file/": Entry(OBJECT, "/api/v1/assets/{asset}/file/", {"GET": ALL}),
    "api/v1/assets/<int:pk>/upscale/": Entry(
        OBJECT, "/api/v1/assets/{asset}/upscale/", {"POST": CREATOR}
    ),
    "api/v1/assets/<int:pk>/export/": Entry(
        OBJECT, "/api/v1/assets/{asset}/export/", {"POST": ALL}
    ),
    "api/v1/provenance/verify/": Entry(OWN, "/api/v1/provenance/verify/", {"POST": ALL}),
    "api/v1/policies/": Entry(OWN, "/api/v1/policies/", {"GET": ALL, "POST": GOVERNORS}),
    "api/v1/policies/<int:pk>/": Entry(
        OBJECT, "/api/v1/policies/{policy}/", {"GET": ALL, "PATCH": GOVERNORS}
    ),
    "api/v1/policies/<int:pk>/publish/": Entry(
        OBJECT, "/api/v1/policies/{policy}/publish/", {"POST": GOVERNORS}
    ),
    "api/v1/policies/<int:pk>/versions/": Entry(
        OBJECT, "/api/v1/policies/{policy}/versions/", {"GET": ALL}
    ),
    "api/v1/policies/<int:pk>/versions/<int:number>/": Entry(
        OBJECT, "/api/v1/policies/{policy}/versions/1/", {"GET": ALL}
    ),
    "api/v1/policies/<int:pk>/evaluate/": Entry(
        OBJECT, "/api/v1/policies/{policy}/evaluate/", {"POST": ALL}
    ),
    "api/v1/policies/<int:pk>/recheck/": Entry(
        OBJECT, "/api/v1/policies/{policy}/recheck/", {"POST": GOVERNORS}
    ),
    "api/v1/reviews/tasks/": Entry(OWN, "/api/v1/reviews/tasks/", {"GET": ALL}),
    "api/v1/reviews/tasks/<int:pk>/": Entry(
        OBJECT, "/api/v1/reviews/tasks/{task}/", {"GET": REVIEWERS | ADMIN}
    ),
    "api/v1/reviews/tasks/<int:pk>/decide/": Entry(
        OBJECT, "/api/v1/reviews/tasks/{task}/decide/", {"POST": REVIEWERS | ADMIN}
    ),
    "api/v1/reviews/bulk-approve/": Entry(OWN, "/api/v1/reviews/bulk-approve/", {"POST": ALL}),
    "api/v1/inbox/": Entry(OWN, "/api/v1/inbox/", {"GET": ALL}),
    "api/v1/inbox/read/": Entry(OWN, "/api/v1/inbox/read/", {"POST": ALL}),
    "api/v1/audit/report/": Entry(OWN, "/api/v1/audit/report/", {"GET": AUDITORS}),
    # The checkpoints are the global tree's (counts and hashes, no content): any auditor's.
    "api/v1/audit/checkpoints/": Entry(OWN, "/api/v1/audit/checkpoints/", {"GET": AUDITORS}),
    "api/v1/audit/export/": Entry(OWN, "/api/v1/audit/export/", {"GET": AUDITORS}),
    "api/v1/audit/verify/": Entry(OWN, "/api/v1/audit/verify/", {"POST": AUDITORS}),
    # --- The API: members (an organisation's admins; {member} is A's creator) -----------------
    "api/v1/members/": Entry(OWN, "/api/v1/members/", {"GET": ADMIN}),
    "api/v1/members/invite/": Entry(OWN, "/api/v1/members/invite/", {"POST": ADMIN}),
    "api/v1/members/<int:user_id>/": Entry(OBJECT, "/api/v1/members/{member}/", {"PATCH": ADMIN}),
    "api/v1/members/<int:user_id>/unlock/": Entry(
        OBJECT, "/api/v1/members/{member}/unlock/", {"POST": ADMIN}
    ),
    "api/v1/members/<int:user_id>/deactivate/": Entry(
        OBJECT, "/api/v1/members/{member}/deactivate/", {"POST": ADMIN}
    ),
    # --- The API: share links (compliance and admins, on A's approved image, sharing on) ------
    # Everyone of A may list an image's links; those who may not share get an empty list.
    "api/v1/assets/<int:pk>/share-links/": Entry(
        OBJECT, "/api/v1/assets/{shared_asset}/share-links/", {"GET": ALL, "POST": GOVERNORS}
    ),
    "api/v1/share-links/<int:pk>/revoke/": Entry(
        OBJECT, "/api/v1/share-links/{share_link}/revoke/", {"POST": GOVERNORS}
    ),
    "api/v1/organizations/<slug:slug>/sharing/": Entry(
        OBJECT, "/api/v1/organizations/{organization}/sharing/", {"GET": ALL, "PUT": ADMIN}
    ),
    # --- The API: push destinations and webhooks (admins) --------------------------------------
    "api/v1/projects/<slug:slug>/destination/": Entry(
        OBJECT, "/api/v1/projects/{slug}/destination/", {"GET": ADMIN, "PUT": ADMIN}
    ),
    # The list holds the endpoints of the organisations one administers: none for the others.
    "api/v1/webhooks/endpoints/": Entry(
        OWN, "/api/v1/webhooks/endpoints/", {"GET": ALL, "POST": ADMIN}
    ),
    "api/v1/webhooks/endpoints/<int:pk>/": Entry(
        OBJECT, "/api/v1/webhooks/endpoints/{endpoint}/", {"GET": ADMIN, "PATCH": ADMIN}
    ),
    "api/v1/webhooks/endpoints/<int:pk>/rotate/": Entry(
        OBJECT, "/api/v1/webhooks/endpoints/{endpoint}/rotate/", {"POST": ADMIN}
    ),
    "api/v1/webhooks/endpoints/<int:pk>/deliveries/": Entry(
        OBJECT, "/api/v1/webhooks/endpoints/{endpoint}/deliveries/", {"GET": ADMIN}
    ),
    "api/v1/webhooks/deliveries/<int:pk>/": Entry(
        OBJECT, "/api/v1/webhooks/deliveries/{delivery}/", {"GET": ADMIN}
    ),
    "api/v1/webhooks/deliveries/<int:pk>/resend/": Entry(
        OBJECT, "/api/v1/webhooks/deliveries/{delivery}/resend/", {"POST": ADMIN}
    ),
    # --- Pages: projects, requests, assets, models ---------------------------------------------
    "": Entry(OWN, "/", {"GET": ALL}),
    "projects/": Entry(OWN, "/projects/", {"GET": ALL}),
    "projects/<slug:slug>/": Entry(OBJECT, "/projects/{slug}/", {"GET": ALL, "POST": CREATOR}),
    "projects/<slug:slug>/policy-check/": Entry(
        OBJECT, "/projects/{slug}/policy-check/", {"POST": CREATOR}
    ),
    "projects/<slug:slug>/calibration/": Entry(
        OBJECT, "/projects/{slug}/calibration/", {"GET": GOVERNORS}
    ),
    "projects/<slug:slug>/brand/": Entry(
        OBJECT, "/projects/{slug}/brand/", {"GET": ALL, "POST": ADMIN}
    ),
    "projects/<slug:slug>/brand/references/": Entry(
        OBJECT, "/projects/{slug}/brand/references/", {"POST": ADMIN}
    ),
    "projects/<slug:slug>/brand/references/<int:pk>/remove/": Entry(
        OBJECT, "/projects/{slug}/brand/references/{reference}/remove/", {"POST": ADMIN}
    ),
    "reference-images/<int:pk>/": Entry(OBJECT, "/reference-images/{reference}/", {"GET": ALL}),
    "requests/<int:pk>/": Entry(OBJECT, "/requests/{request}/", {"GET": ALL}),
    "requests/<int:pk>/status/": Entry(OBJECT, "/requests/{request}/status/", {"GET": ALL}),
    "requests/<int:pk>/cancel/": Entry(
        OBJECT, "/requests/{request}/cancel/", {"POST": CREATOR | ADMIN}
    ),
    "requests/<int:pk>/rerun/": Entry(OBJECT, "/requests/{request}/rerun/", {"POST": CREATOR}),
    "requests/<int:pk>/revise/": Entry(OBJECT, "/requests/{request}/revise/", {"POST": CREATOR}),
    "requests/<int:pk>/<str:which>.png": Entry(
        OBJECT, "/requests/{request}/init.png", {"GET": ALL}
    ),
    "assets/<int:pk>/image.png": Entry(OBJECT, "/assets/{asset}/image.png", {"GET": ALL}),
    "assets/<int:pk>/thumbnail.webp": Entry(OBJECT, "/assets/{asset}/thumbnail.webp", {"GET": ALL}),
    "assets/<int:pk>/published.png": Entry(OBJECT, "/assets/{asset}/published.png", {"GET": ALL}),
    "assets/<int:pk>/export/<str:fmt>/": Entry(
        OBJECT, "/assets/{asset}/export/jpeg/", {"GET": ALL}
    ),
    "assets/<int:pk>/recheck/": Entry(OBJECT, "/assets/{asset}/recheck/", {"POST": GOVERNORS}),
    "assets/<int:pk>/upscale/": Entry(OBJECT, "/assets/{asset}/upscale/", {"POST": CREATOR}),
    "verify/": Entry(OWN, "/verify/", {"GET": ALL}),
    "models/": Entry(OWN, "/models/", {"GET": ALL}),
    "models/new/": Entry(OWN, "/models/new/", {"GET": ADMIN}),
    "models/<int:pk>/": Entry(OBJECT, "/models/{model}/", {"GET": ADMIN, "POST": ADMIN}),
    "settings/": Entry(OWN, "/settings/", {"GET": ALL}),
    "settings/token/": Entry(OWN, "/settings/token/", {"POST": ALL}),
    "accounts/sso/settings/<slug:slug>/": Entry(
        OBJECT, "/accounts/sso/settings/{organization}/", {"GET": ADMIN, "POST": ADMIN}
    ),
    # --- Pages: share links (compliance and admins; the switch: admins) ------------------------
    "assets/<int:pk>/share/": Entry(OBJECT, "/assets/{shared_asset}/share/", {"POST": GOVERNORS}),
    "share-links/<int:pk>/revoke/": Entry(
        OBJECT, "/share-links/{share_link}/revoke/", {"POST": GOVERNORS}
    ),
    "organizations/<slug:slug>/sharing/": Entry(
        OBJECT, "/organizations/{organization}/sharing/", {"POST": ADMIN}
    ),
    # --- Pages: webhooks (admins) --------------------------------------------------------------
    "settings/webhooks/": Entry(OWN, "/settings/webhooks/", {"GET": ADMIN, "POST": ADMIN}),
    "settings/webhooks/<int:pk>/": Entry(OBJECT, "/settings/webhooks/{endpoint}/", {"GET": ADMIN}),
    "settings/webhooks/<int:pk>/rotate/": Entry(
        OBJECT, "/settings/webhooks/{endpoint}/rotate/", {"POST": ADMIN}
    ),
    "settings/webhooks/<int:pk>/state/": Entry(
        OBJECT, "/settings/webhooks/{endpoint}/state/", {"POST": ADMIN}
    ),
    "settings/webhooks/deliveries/<int:pk>/resend/": Entry(
        OBJECT, "/settings/webhooks/deliveries/{delivery}/resend/", {"POST": ADMIN}
    ),
    # --- Pages: members (admins; {member} is A's creator) ---------------------------------------
    "members/": Entry(OWN, "/members/", {"GET": ADMIN}),
    "members/<slug:slug>/invite/": Entry(
        OBJECT, "/members/{organization}/invite/", {"POST": ADMIN}
    ),
    "members/<slug:slug>/scim-token/": Entry(
        OBJECT, "/members/{organization}/scim-token/", {"POST": ADMIN}
    ),
    "members/<slug:slug>/group-roles/": Entry(
        OBJECT, "/members/{organization}/group-roles/", {"POST": ADMIN}
    ),
    "members/<slug:slug>/group-roles/<int:pk>/remove/": Entry(
        OBJECT, "/members/{organization}/group-roles/{group_role}/remove/", {"POST": ADMIN}
    ),
    "members/<slug:slug>/<int:user_id>/roles/": Entry(
        OBJECT, "/members/{organization}/{member}/roles/", {"POST": ADMIN}
    ),
    "members/<slug:slug>/<int:user_id>/deactivate/": Entry(
        OBJECT, "/members/{organization}/{member}/deactivate/", {"GET": ADMIN, "POST": ADMIN}
    ),
    "members/<slug:slug>/<int:user_id>/unlock/": Entry(
        OBJECT, "/members/{organization}/{member}/unlock/", {"POST": ADMIN}
    ),
    "members/<slug:slug>/<int:user_id>/token/revoke/": Entry(
        OBJECT, "/members/{organization}/{member}/token/revoke/", {"POST": ADMIN}
    ),
    # --- Pages: policies -----------------------------------------------------------------------
    "policies/": Entry(OWN, "/policies/", {"GET": ALL}),
    "policies/new/": Entry(OWN, "/policies/new/", {"GET": GOVERNORS}),
    "policies/<int:pk>/": Entry(OBJECT, "/policies/{policy}/", {"GET": ALL}),
    "policies/<int:pk>/edit/": Entry(
        OBJECT, "/policies/{policy}/edit/", {"GET": GOVERNORS, "POST": GOVERNORS}
    ),
    "policies/<int:pk>/try/": Entry(OBJECT, "/policies/{policy}/try/", {"POST": ALL}),
    "policies/<int:pk>/publish/": Entry(OBJECT, "/policies/{policy}/publish/", {"POST": GOVERNORS}),
    "policies/<int:pk>/recheck/": Entry(OBJECT, "/policies/{policy}/recheck/", {"POST": GOVERNORS}),
    "policies/<int:pk>/packs/": Entry(
        OBJECT, "/policies/{policy}/packs/", {"GET": ALL, "POST": GOVERNORS}
    ),
    "policies/<int:pk>/versions/": Entry(OBJECT, "/policies/{policy}/versions/", {"GET": ALL}),
    "policies/<int:pk>/versions/<int:number>/": Entry(
        OBJECT, "/policies/{policy}/versions/1/", {"GET": ALL}
    ),
    # --- Brand styles (generation/styles/) ----------------------------------------------------
    "api/v1/projects/<slug:slug>/presets/": Entry(
        OBJECT, "/api/v1/projects/{slug}/presets/", {"GET": ALL, "POST": ADMIN}
    ),
    "api/v1/presets/<int:pk>/": Entry(
        OBJECT, "/api/v1/presets/{preset}/", {"GET": ALL, "PATCH": ADMIN}
    ),
    "api/v1/projects/<slug:slug>/styles/": Entry(
        OBJECT, "/api/v1/projects/{slug}/styles/", {"GET": ALL, "POST": ADMIN}
    ),
    "api/v1/styles/<int:pk>/": Entry(OBJECT, "/api/v1/styles/{style}/", {"GET": ALL}),
    "api/v1/styles/<int:pk>/train/": Entry(
        OBJECT, "/api/v1/styles/{style}/train/", {"POST": ADMIN}
    ),
    "api/v1/styles/<int:pk>/cancel/": Entry(
        OBJECT, "/api/v1/styles/{style}/cancel/", {"POST": ADMIN}
    ),
    "api/v1/styles/<int:pk>/review/": Entry(
        OBJECT, "/api/v1/styles/{style}/review/", {"POST": ADMIN}
    ),
    "projects/<slug:slug>/styles/": Entry(
        OBJECT, "/projects/{slug}/styles/", {"GET": ALL, "POST": ADMIN}
    ),
    "presets/<int:pk>/": Entry(OBJECT, "/presets/{preset}/", {"GET": ALL, "POST": ADMIN}),
    "styles/<int:pk>/": Entry(OBJECT, "/styles/{style}/", {"GET": ALL}),
    "styles/<int:pk>/<str:verb>/": Entry(OBJECT, "/styles/{style}/train/", {"POST": ADMIN}),
    "style-samples/<int:pk>.png": Entry(OBJECT, "/style-samples/{style_sample}.png", {"GET": ALL}),
    # --- Pages: reviews ------------------------------------------------------------------------
    "reviews/": Entry(OWN, "/reviews/", {"GET": ALL}),
    "reviews/bulk-approve/": Entry(OWN, "/reviews/bulk-approve/", {"POST": ALL}),
    "reviews/tasks/<int:pk>/": Entry(
        OBJECT, "/reviews/tasks/{task}/", {"GET": REVIEWERS | ADMIN, "POST": REVIEWERS | ADMIN}
    ),
    "reviews/projects/<slug:slug>/workflow/": Entry(
        OBJECT, "/reviews/projects/{slug}/workflow/", {"GET": REVIEWERS | ADMIN, "POST": ADMIN}
    ),
    "reviews/inbox/": Entry(OWN, "/reviews/inbox/", {"GET": ALL}),
    # A notification is its user's: A's reviewer's, opened by nobody else.
    "reviews/inbox/<int:pk>/": Entry(
        OBJECT, "/reviews/inbox/{notification}/", {"GET": frozenset({"reviewer"})}
    ),
    # --- Pages: audit --------------------------------------------------------------------------
    "audit/": Entry(OWN, "/audit/", {"GET": AUDITORS}),
    "audit/events/<int:sequence>/": Entry(OBJECT, "/audit/events/{event}/", {"GET": AUDITORS}),
    "audit/events/<int:sequence>/proof.json": Entry(
        OBJECT, "/audit/events/{event}/proof.json", {"GET": AUDITORS}
    ),
    "audit/export.<str:fmt>": Entry(OWN, "/audit/export.csv", {"GET": AUDITORS}),
    "audit/verify/": Entry(OWN, "/audit/verify/", {"POST": AUDITORS}),
    "audit/reports/": Entry(OWN, "/audit/reports/", {"GET": AUDITORS}),
    "audit/reports/pdf/": Entry(OWN, "/audit/reports/pdf/", {"GET": AUDITORS}),
    "audit/checkpoints.jsonl": Entry(OWN, "/audit/checkpoints.jsonl", {"GET": AUDITORS}),
}

# URL patterns outside the matrix, each with its reason.
SKIPPED = {
    "healthz": "a probe: says the process is up, holds no organisation's data",
    "readyz": "a probe: says the dependencies answer, holds no organisation's data",
    "metrics": "Prometheus counters of the whole platform, behind IMPRIMATUR_METRICS_TOKEN",
    "accounts/login/": "logging in: before any organisation",
    "accounts/logout/": "logging out",
    "api/schema/": "the OpenAPI schema: the same for everyone",
    "api/docs/": "Swagger UI over the schema: the same for everyone",
    # Before sign-in: the organisation comes from what the visitor types and the provider's
    # answer, never from a session. tests/imprimatur/identity/test_sso_flow.py holds them to
    # it: test_a_state_this_browser_did_not_start_is_refused,
    # test_an_id_token_from_another_issuer_is_refused,
    # test_an_id_token_issued_to_another_client_is_refused and
    # test_an_account_is_not_taken_over_by_email (Acme's provider cannot sign in Globex's).
    "accounts/sso/start/": "single sign-on's start: before sign-in (test_sso_flow.py)",
    "accounts/sso/callback/": "single sign-on's way back: before sign-in (test_sso_flow.py)",
    # The capability is the token in the URL, not the session: see
    # test_a_forged_password_link_sets_no_password below, and test_members.py's
    # test_invitation_email_leads_to_a_password_and_a_login (the link works once).
    "accounts/reset/<uidb64>/<token>/": "choosing a password: the e-mailed token is the key",
    "accounts/reset/done/": "a static page after choosing a password",
    # Public by design: the token is the capability. Refused when unknown (404), revoked or
    # expired or with sharing turned off (410): tests/generation/jobs/test_share_links.py,
    # test_a_link_serves_the_published_file_until_revoked and
    # test_a_link_ends_when_it_expires_or_sharing_is_turned_off.
    "share/<str:token>/": "a share link's public download: the token is the capability",
}
# SCIM: an identity provider's bearer token per organisation, never a session (see
# test_scim_ignores_the_session below). One organisation's token never reaches another's users
# or groups: tests/imprimatur/scim/test_scim_api.py,
# test_one_organisation_never_sees_or_changes_anothers_users_and_groups and
# test_an_account_of_another_organisation_cannot_be_claimed.
SCIM_ROUTES = [
    "scim/v2/^ServiceProviderConfig/?$",
    "scim/v2/^ResourceTypes/?$",
    "scim/v2/^ResourceTypes/(?P<name>[^/]+)/?$",
    "scim/v2/^Schemas/?$",
    "scim/v2/^Schemas/(?P<schema_id>[^/]+)/?$",
    "scim/v2/^(?:(?:Users|Groups)/)?\\.search/?$",
    "scim/v2/^Users/?$",
    "scim/v2/^Users/(?P<scim_id>[^/]+)/?$",
    "scim/v2/^Groups/?$",
    "scim/v2/^Groups/(?P<scim_id>[^/]+)/?$",
    "scim/v2/^(?P<rest>.*)$",
]
SKIPPED.update(dict.fromkeys(SCIM_ROUTES, "SCIM: a bearer token per organisation, never a session"))
SKIPPED_PREFIXES = {
    "admin/": "Django's admin: staff (platform operators) only, across organisations on purpose",
}

DENIED = {403, 404}


def url_patterns(patterns=None, prefix: str = ""):
    """Every route of the project, as one string (``api/v1/requests/<int:pk>/``)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if route in SKIPPED_PREFIXES:
                continue
            yield from url_patterns(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def test_every_url_pattern_has_a_matrix_entry():
    routes = list(url_patterns())
    missing = [route for route in routes if route not in MATRIX and route not in SKIPPED]
    assert missing == [], (
        "URL patterns without an entry in tests/imprimatur/test_tenancy_matrix.py MATRIX "
        f"(say who may use them) or SKIPPED (say why not): {missing}"
    )
    stale = [route for route in [*MATRIX, *SKIPPED] if route not in routes]
    assert stale == [], f"Entries for URL patterns that no longer exist: {stale}"


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "navy").save(buffer, format="PNG")
    return buffer.getvalue()


MARKER_PROMPT = "acme-confidential-lighthouse"
MARKER_HOOK = "https://hooks.example.com/acme-confidential-hook"
MARKER_DESTINATION = "s3://acme-confidential-bucket/images"
MARKER_GROUP = "acme-confidential-group"


class World:
    """Organisation A (acme) with one object of each kind; B (globex) with the same roles."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self._clients: dict[int, Client] = {}
        job = GenerationJobFactory(
            request__project=a.project,
            request__created_by=a.users["creator"],
            request__model_profile=a.model,
            request__prompt=MARKER_PROMPT,
        )
        request = job.request
        request.init_image.save("init.png", ContentFile(png()), save=True)
        asset = Asset(
            request=request, job=job, index=0, seed=1, width=64, height=64, sha256="0" * 64
        )
        asset.image.save("matrix.png", ContentFile(png()), save=False)
        asset.published_image.save("matrix-published.png", ContentFile(png()), save=False)
        asset.save()
        policy = policy_create(
            organization=a.organization,
            user=a.users["admin"],
            draft=document(term_rule("gore", "blood", action="review", category="violence")),
        )
        policy_publish(policy=policy, user=a.users["admin"])
        review = open_prompt_review(a)
        notification = Notification.objects.create(
            user=a.users["reviewer"], review=review, kind="assigned", message="m", url="/"
        )
        reference = BrandReferenceImage(project=a.project, caption="matrix")
        reference.image.save("reference.png", ContentFile(png()), save=False)
        reference.save()
        # Share links: on for A, an approved image with its published file, and a link to it.
        sharing_configure(organization=a.organization, user=a.users["admin"], share_links=True)
        shared_asset = Asset(
            request=request, job=job, index=1, seed=2, width=64, height=64, sha256="1" * 64,
            status=Asset.Status.APPROVED,
        )  # fmt: skip
        shared_asset.image.save("shared.png", ContentFile(png()), save=False)
        shared_asset.published_image.save("shared-published.png", ContentFile(png()), save=False)
        shared_asset.save()
        share_link, _token = share_link_create(
            asset=shared_asset, user=a.users["compliance"], hours=1
        )
        # Webhooks and the push destination: made directly (the services would check the
        # address by DNS), with A's marker in their addresses.
        endpoint = Endpoint.objects.create(
            organization=a.organization, url=MARKER_HOOK, secret=secret_new()
        )
        delivery = Delivery.objects.create(
            endpoint=endpoint,
            message_id="msg_matrix",
            event_type="request.succeeded",
            payload={"type": "request.succeeded", "data": {"organization": a.organization.slug}},
        )
        PushDestination.objects.create(project=a.project, url=MARKER_DESTINATION)
        group_role = GroupRole.objects.create(
            organization=a.organization, group=MARKER_GROUP, role="reviewer"
        )
        # Brand styles: a preset, a style's training set (a draft) and a sample image.
        preset = preset_save(
            project=a.project,
            user=a.users["admin"],
            name="matrix",
            data={"prompt_template": "{prompt}"},
        ).preset
        style = style_create(a)
        style_sample = StyleSample(style=style, prompt="matrix")
        style_sample.image.save("sample.png", ContentFile(png()), save=False)
        style_sample.save()
        event = AuditEvent.objects.filter(organization=a.organization).latest("sequence")
        self.placeholders = {
            "slug": a.project.slug,
            "request": request.pk,
            "asset": asset.pk,
            "model": a.model.pk,
            "policy": policy.pk,
            "task": review.tasks.first().pk,
            "notification": notification.pk,
            "reference": reference.pk,
            "event": event.sequence,
            "organization": a.organization.slug,
            # A member of A who is not its last admin (deactivating them is allowed).
            "member": a.users["creator"].pk,
            "shared_asset": shared_asset.pk,
            "share_link": share_link.pk,
            "endpoint": endpoint.pk,
            "delivery": delivery.pk,
            "group_role": group_role.pk,
            "preset": preset.pk,
            "style": style.pk,
            "style_sample": style_sample.pk,
        }
        # What of A no answer to B may contain.
        self.markers = [
            MARKER_PROMPT, a.project.name, a.organization.slug, a.project.slug, MARKER_HOOK,
            MARKER_DESTINATION, MARKER_GROUP, a.users["creator"].username,
        ]  # fmt: skip

    def client(self, user) -> Client:
        """A logged-in client per user, made once per test."""
        if user.pk not in self._clients:
            self._clients[user.pk] = Client()
            self._clients[user.pk].force_login(user)
        return self._clients[user.pk]


def _call(client: Client, method: str, url: str):
    return getattr(client, method.lower())(url, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("route", sorted(MATRIX))
def test_tenancy(route, acme, globex, monkeypatch):
    from generation.jobs import dispatch

    # A fake broker: nothing reaches a worker (none runs here); jobs and re-checks are only
    # recorded as sent.
    monkeypatch.setattr(dispatch, "job_send", lambda *args, **kwargs: None)
    monkeypatch.setattr(dispatch, "task_send", lambda *args, **kwargs: None, raising=False)
    world = World(acme, globex)
    entry = MATRIX[route]
    url = entry.url.format(**world.placeholders)
    problems = []
    for method, allowed in entry.methods.items():
        # B first, then A's denied roles, then A's allowed ones: an allowed call may change
        # the object (cancel, remove), after which nobody else is asked.
        calls = [("B", role, role in allowed) for role in ROLES]
        calls += [("A", role, False) for role in ROLES if role not in allowed]
        calls += [("A", role, True) for role in ROLES if role in allowed]
        for side, role, may in calls:
            tenant = world.a if side == "A" else world.b
            response = _call(world.client(tenant.users[role]), method, url)
            status = response.status_code
            what = f"{method} {url} as {side}'s {role}: {status}"
            if status >= 500:
                problems.append(f"{what} (server error)")
            elif side == "B" and entry.kind == OBJECT and status not in DENIED:
                problems.append(f"{what}, expected 403/404 for another organisation's object")
            elif (side == "A" or entry.kind == OWN) and may and status in {401, *DENIED}:
                problems.append(f"{what}, expected to be allowed")
            elif (side == "A" or entry.kind == OWN) and not may and status not in DENIED:
                problems.append(f"{what}, expected 403/404")
            if side == "B" and not getattr(response, "streaming", False):
                body = response.content.decode(errors="replace")
                leaked = [marker for marker in world.markers if marker in body]
                if leaked:
                    problems.append(f"{what}: the answer holds A's {leaked}")
    assert problems == [], "\n".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["ServiceProviderConfig", "Schemas", "Users", "Groups", "x"])
def test_scim_ignores_the_session(path, acme):
    """SCIM's routes answer a provider's bearer token only: A's admin, logged in, gets the
    401 that asks for one (and nothing of A)."""
    client = Client()
    client.force_login(acme.users["admin"])
    response = client.get(f"/scim/v2/{path}")
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert acme.users["admin"].username not in response.content.decode()


@pytest.mark.django_db
def test_a_forged_password_link_sets_no_password(acme, globex):
    """A reset link is its token: B's admin, logged in, with A's member's id and a made-up
    token gets no form, and a POST there changes no password."""
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from tests.imprimatur.tenancy.factories import PASSWORD

    member = acme.users["creator"]
    uid = urlsafe_base64_encode(force_bytes(member.pk))
    client = Client()
    client.force_login(globex.users["admin"])
    url = f"/accounts/reset/{uid}/cbhw2x-0123456789abcdef0123456789abcdef/"
    page = client.get(url, follow=True)
    assert "has been used already or has expired" in page.content.decode()
    assert "new_password1" not in page.content.decode()
    new = "a-long-new-password-7"
    client.post(url, {"new_password1": new, "new_password2": new}, follow=True)
    member.refresh_from_db()
    assert member.check_password(PASSWORD) and not member.check_password(new)
