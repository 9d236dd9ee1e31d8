from django.urls import path

from generation.jobs import views

app_name = "jobs"

urlpatterns = [
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/status/", views.request_status, name="request-status"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/rerun/", views.request_rerun, name="request-rerun"),
    path("assets/<int:pk>/image.png", views.asset_image, name="asset-image"),
]
