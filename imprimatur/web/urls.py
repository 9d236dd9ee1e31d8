from django.urls import path

from imprimatur.web import views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("projects/", views.project_list, name="projects"),
    path("projects/<slug:slug>/brand/", views.brand_kit, name="brand-kit"),
    path(
        "projects/<slug:slug>/brand/references/",
        views.reference_image_upload,
        name="brand-reference-add",
    ),
    path(
        "projects/<slug:slug>/brand/references/<int:pk>/remove/",
        views.reference_image_delete,
        name="brand-reference-remove",
    ),
    path("reference-images/<int:pk>/", views.reference_image, name="reference-image"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/token/", views.token_change, name="token-change"),
]
