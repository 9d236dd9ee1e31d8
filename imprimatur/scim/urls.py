"""SCIM 2.0 URLs, mounted at /scim/v2/ (``imprimatur/urls.py``). Providers call them without
a trailing slash; one is accepted too."""

from django.urls import re_path

from imprimatur.scim import views

app_name = "scim"

urlpatterns = [
    re_path(
        r"^ServiceProviderConfig/?$",
        views.service_provider_config_view,
        name="service-provider-config",
    ),
    re_path(r"^ResourceTypes/?$", views.resource_type_list, name="resource-types"),
    re_path(r"^ResourceTypes/(?P<name>[^/]+)/?$", views.resource_type_list),
    re_path(r"^Schemas/?$", views.schema_list, name="schemas"),
    re_path(r"^Schemas/(?P<schema_id>[^/]+)/?$", views.schema_list),
    re_path(r"^(?:(?:Users|Groups)/)?\.search/?$", views.search_all),
    re_path(r"^Users/?$", views.user_collection, name="users"),
    re_path(r"^Users/(?P<scim_id>[^/]+)/?$", views.user_item, name="user"),
    re_path(r"^Groups/?$", views.group_collection, name="groups"),
    re_path(r"^Groups/(?P<scim_id>[^/]+)/?$", views.group_item, name="group"),
    re_path(r"^(?P<rest>.*)$", views.unknown),
]
