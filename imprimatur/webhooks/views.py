"""The webhook endpoints pages (Settings → Webhooks), for organisation admins: list and add
endpoints, rotate a secret, disable and enable, the delivery log with its attempts, and
"send again". The same services as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from imprimatur.webhooks import selectors, services
from imprimatur.webhooks.forms import EndpointForm


def _form_errors(form, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for name, texts in errors.items():
        form.add_error(name if name in form.fields else None, texts)


@login_required
def endpoint_list(request):
    organizations = selectors.organizations_managed(user=request.user)
    if not organizations.exists():
        raise PermissionDenied("Only an organisation's admins manage its webhooks.")
    status = 200
    if request.method == "POST":
        form = EndpointForm(request.POST, organizations=organizations)
        if form.is_valid():
            data = form.cleaned_data
            try:
                endpoint, secret = services.endpoint_create(
                    organization=data["organization"],
                    url=data["url"],
                    actor=request.user,
                    description=data["description"],
                    event_types=data["event_types"],
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                return _endpoint_page(request, endpoint.pk, new_secret=secret)
        status = 400
    else:
        form = EndpointForm(organizations=organizations)
    context = {"endpoints": selectors.endpoint_list(user=request.user), "form": form}
    return render(request, "webhooks/endpoints.html", context, status=status)


# bandit: new_secret is the secret just made, shown once; "" means none to show.
def _endpoint_page(request, pk: int, new_secret: str = ""):  # nosec B107
    endpoint = selectors.endpoint_get(user=request.user, pk=pk)
    deliveries = Paginator(selectors.delivery_list(user=request.user, endpoint=endpoint), 25)
    page = deliveries.get_page(request.GET.get("page"))
    for delivery in page:
        delivery.attempt_rows = list(selectors.attempt_list(delivery=delivery))
    context = {"endpoint": endpoint, "page": page, "new_secret": new_secret}
    return render(request, "webhooks/endpoint.html", context)


@login_required
def endpoint_detail(request, pk: int):
    return _endpoint_page(request, pk)


@login_required
@require_POST
def endpoint_rotate(request, pk: int):
    endpoint = selectors.endpoint_get(user=request.user, pk=pk)
    endpoint, secret = services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
    return _endpoint_page(request, endpoint.pk, new_secret=secret)


@login_required
@require_POST
def endpoint_toggle(request, pk: int):
    endpoint = selectors.endpoint_get(user=request.user, pk=pk)
    enable = request.POST.get("enabled") == "1"
    services.endpoint_update(endpoint=endpoint, actor=request.user, enabled=enable)
    messages.success(request, "The endpoint is enabled." if enable else "The endpoint is disabled.")
    return redirect("webhooks:endpoint", pk=endpoint.pk)


@login_required
@require_POST
def delivery_resend(request, pk: int):
    delivery = selectors.delivery_get(user=request.user, pk=pk)
    try:
        services.delivery_resend(delivery=delivery, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Delivery {delivery.message_id} will be sent again now.")
    return redirect("webhooks:endpoint", pk=delivery.endpoint_id)
