from django.urls import path

from imprimatur.web import views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("projects/", views.project_list, name="projects"),
    path("reference-images/<int:pk>/", views.reference_image, name="reference-image"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/token/", views.token_change, name="token-change"),
]
