"""Real events for the webhook tests: a request that succeeds (generation's transition
function, as the worker calls it) and a policy published by its service."""

from generation.jobs.models import GenerationRequest
from generation.jobs.transitions import generation_request_transition
from imprimatur.webhooks.models import Delivery, Endpoint
from imprimatur.webhooks.services import endpoint_create
from tests.generation.jobs.factories import GenerationRequestFactory


def request_succeed(tenant) -> GenerationRequest:
    request = GenerationRequestFactory(
        project=tenant.project,
        created_by=tenant.users["creator"],
        model_profile=tenant.model,
        status=GenerationRequest.Status.RUNNING,
    )
    return generation_request_transition(request=request, to=GenerationRequest.Status.SUCCEEDED)


def endpoint_for(tenant, receiver, event_types=()) -> Endpoint:
    """An endpoint of ``tenant`` at the receiver, which learns its secret."""
    endpoint, secret = endpoint_create(
        organization=tenant.organization,
        url=receiver.url,
        actor=tenant.users["admin"],
        event_types=event_types,
    )
    receiver.secrets.append(secret)
    return endpoint


def deliveries(endpoint) -> list[Delivery]:
    return list(Delivery.objects.filter(endpoint=endpoint).order_by("pk"))
