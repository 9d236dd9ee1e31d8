"""The webhook endpoints pages, under /settings/webhooks/."""

from django.urls import path

from imprimatur.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.endpoint_list, name="list"),
    path("<int:pk>/", views.endpoint_detail, name="endpoint"),
    path("<int:pk>/rotate/", views.endpoint_rotate, name="rotate"),
    path("<int:pk>/state/", views.endpoint_toggle, name="toggle"),
    path("deliveries/<int:pk>/resend/", views.delivery_resend, name="resend"),
]
