"""Single sign-on's two URLs. The callback is the redirect URI to register at every
organisation's provider: ``<IMPRIMATUR_BASE_URL>/accounts/sso/callback/``."""

from django.urls import path

from imprimatur.identity import views

urlpatterns = [
    path("start/", views.SSOStartView.as_view(), name="sso-start"),
    path("callback/", views.sso_callback, name="sso-callback"),
    path("settings/<slug:slug>/", views.sso_settings, name="sso-settings"),
]
