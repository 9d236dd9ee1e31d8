from django.urls import path

from generation.styles import views

app_name = "styles"

urlpatterns = [
    path("projects/<slug:slug>/styles/", views.project_styles, name="project"),
    path("presets/<int:pk>/", views.preset_detail, name="preset"),
    path("styles/<int:pk>/", views.style_detail, name="style"),
    path("styles/<int:pk>/<str:verb>/", views.style_action, name="style-action"),
    path("style-samples/<int:pk>.png", views.sample_image, name="sample"),
]
