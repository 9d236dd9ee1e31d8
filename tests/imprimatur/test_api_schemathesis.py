"""Every operation of the OpenAPI schema fuzzed in-process by schemathesis: no answer is a
5xx, each documented answer matches its schema, and each has the content type it declares.

The calls go to Django's WSGI application (no server), authenticated with a real API token
of an admin who has data: a project, a model, a request with an image, a policy, a review
task, a notification. A generated id or slug is replaced by a real one for half the examples,
so the fuzzing reaches the objects and not only 404s. Hypothesis is derandomized: the same
examples every run.
"""

import io

import pytest
import schemathesis
from django.core.files.base import ContentFile
from hypothesis import HealthCheck, settings
from PIL import Image
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from generation.jobs.models import Asset
from generation.jobs.sharing import share_link_create, sharing_configure
from governance.policies.services import policy_create
from governance.reviews.models import Notification
from imprimatur.webhooks.models import Delivery, Endpoint
from imprimatur.webhooks.services import secret_new
from imprimatur.wsgi import application
from tests.generation.jobs.factories import GenerationJobFactory
from tests.governance.policies.factories import document, term_rule
from tests.governance.reviews.conftest import open_prompt_review

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# Examples from the schema and random fuzzing; not the coverage phase, which tries every
# boundary of every field (thousands of calls: minutes, where this module has a budget of
# well under one).
schema.config.phases.update(phases=["examples", "fuzzing"])

# Not checked, and why: status_code_conformance — drf-spectacular documents the success
# answers only; every error shares the one format of imprimatur/api.py, which
# tests/imprimatur/test_hardening.py and the scoping tests check. The negative/positive data
# checks judge the validation of inputs the schema cannot express (a size that is one of the
# model's sizes, a project slug that exists) as wrong.
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]

# Examples per operation: enough to find a 500 on odd input, little enough that the whole
# module takes well under a minute.
EXAMPLES = 12


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: a request's end must not close the database connection
    that holds the test's transaction (these calls go through the plain WSGI handler)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(acme, globex, monkeypatch, keep_test_connection):
    """The admin's token and the ids of real objects of each kind, by path parameter."""
    from generation.jobs import dispatch

    # A fake broker: nothing is sent to a worker (no worker runs here).
    monkeypatch.setattr(dispatch, "job_send", lambda job_id, queue: None)
    admin = acme.users["admin"]
    job = GenerationJobFactory(
        request__project=acme.project,
        request__created_by=acme.users["creator"],
        request__model_profile=acme.model,
    )
    asset = Asset(
        request=job.request, job=job, index=0, seed=1, width=64, height=64, sha256="0" * 64
    )
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "navy").save(png, format="PNG")
    asset.image.save("fuzz.png", ContentFile(png.getvalue()), save=False)
    asset.save()
    # An approved image with its published file, share links on, and a link to it: the
    # share-link operations reach their answers, not only 403s and 404s.
    shared = Asset(
        request=job.request, job=job, index=1, seed=2, width=64, height=64, sha256="1" * 64,
        status=Asset.Status.APPROVED,
    )  # fmt: skip
    shared.image.save("fuzz-shared.png", ContentFile(png.getvalue()), save=False)
    shared.published_image.save("fuzz-published.png", ContentFile(png.getvalue()), save=False)
    shared.save()
    sharing_configure(organization=acme.organization, user=admin, share_links=True)
    link, _token = share_link_create(asset=shared, user=admin, hours=1)
    # A webhook endpoint with a delivery (made directly: the service checks the address by
    # DNS, and nothing is sent here).
    endpoint = Endpoint.objects.create(
        organization=acme.organization, url="https://hooks.example.com/fuzz", secret=secret_new()
    )
    delivery = Delivery.objects.create(
        endpoint=endpoint, message_id="msg_fuzz", event_type="request.succeeded", payload={}
    )
    policy = policy_create(
        organization=acme.organization,
        user=admin,
        draft=document(term_rule("gore", "blood", action="review", category="violence")),
    )
    review = open_prompt_review(acme)
    Notification.objects.create(
        user=admin, review=review, kind="assigned", message="waiting", url="/reviews/"
    )
    # Brand styles: a preset and a style's training set (a draft).
    from generation.styles.presets import preset_save
    from tests.generation.styles.helpers import style_create

    preset = preset_save(
        project=acme.project, user=admin, name="fuzz", data={"prompt_template": "{prompt}"}
    ).preset
    style = style_create(acme)
    return {
        "token": Token.objects.create(user=admin).key,
        "ids": {
            "requests": job.request.pk,
            "assets": asset.pk,
            "share-links": link.pk,
            "endpoints": endpoint.pk,  # before "deliveries": /endpoints/{id}/deliveries/
            "deliveries": delivery.pk,
            "models": acme.model.pk,
            "policies": policy.pk,
            "tasks": review.tasks.first().pk,
            "presets": preset.pk,
            "styles": style.pk,
        },
        "slug": acme.project.slug,
        "organization": acme.organization.slug,
        "shared_asset": shared.pk,
        "member": acme.users["creator"].pk,  # not the last admin: may be deactivated
    }


def _use_real_objects(case, world) -> None:
    """Half the examples (those with an even generated value) name real objects."""
    parameters = case.path_parameters or {}
    if "slug" in parameters and len(str(parameters["slug"])) % 2 == 0:
        organization = case.operation.path.startswith("/api/v1/organizations/")
        parameters["slug"] = world["organization"] if organization else world["slug"]
    if isinstance(parameters.get("user_id"), int) and parameters["user_id"] % 2 == 0:
        parameters["user_id"] = world["member"]
    identifier = parameters.get("id")  # drf-spectacular names a <int:pk> "id"
    if isinstance(identifier, int) and identifier % 2 == 0:
        kind = next((kind for kind in world["ids"] if f"/{kind}/" in case.operation.path), None)
        if kind is not None:
            parameters["id"] = world["ids"][kind]
        if case.operation.path.endswith("/assets/{id}/share-links/"):
            parameters["id"] = world["shared_asset"]  # the approved one
    if "number" in parameters and isinstance(parameters["number"], int):
        parameters["number"] = 1 if parameters["number"] % 2 == 0 else parameters["number"]


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one world per operation, shared by its examples
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_every_operation_answers_within_its_schema(case, world):
    _use_real_objects(case, world)
    response = case.call(headers={"Authorization": f"Token {world['token']}"})
    case.validate_response(response, checks=CHECKS)
