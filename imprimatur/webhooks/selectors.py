"""Reads of the webhooks app, scoped to the organisations the user manages (admins):
another organisation's endpoint or delivery is a 404."""

from django.shortcuts import get_object_or_404

from imprimatur.tenancy.models import Organization
from imprimatur.tenancy.permissions import Action
from imprimatur.webhooks.models import Attempt, Delivery, Endpoint


def organizations_managed(*, user):
    return Organization.objects.restrict(user, Action.MANAGE).order_by("name")


def endpoint_list(*, user):
    return (
        Endpoint.objects.restrict(user, Action.MANAGE)
        .select_related("organization")
        .order_by("organization__name", "pk")
    )


def endpoint_get(*, user, pk: int) -> Endpoint:
    return get_object_or_404(endpoint_list(user=user), pk=pk)


def delivery_list(*, user, endpoint: Endpoint | None = None):
    deliveries = Delivery.objects.restrict(user, Action.MANAGE).select_related("endpoint")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return deliveries.order_by("-created_at", "-pk")


def delivery_get(*, user, pk: int) -> Delivery:
    return get_object_or_404(delivery_list(user=user), pk=pk)


def attempt_list(*, delivery: Delivery):
    return Attempt.objects.filter(delivery=delivery).order_by("number")
