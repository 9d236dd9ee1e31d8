from django.urls import path

from generation.jobs import calibration_views, gallery_views, sharing_views, upscaling_views, views

app_name = "jobs"

urlpatterns = [
    path("projects/<slug:slug>/", views.project_detail, name="project"),
    path("projects/<slug:slug>/policy-check/", views.policy_check, name="policy-check"),
    path("projects/<slug:slug>/calibration/", calibration_views.calibration, name="calibration"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/status/", views.request_status, name="request-status"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/rerun/", views.request_rerun, name="request-rerun"),
    path("requests/<int:pk>/<str:which>.png", views.request_upload, name="request-upload"),
    path("models/", views.model_list, name="models"),
    path("models/new/", views.model_edit, name="model-new"),
    path("models/<int:pk>/", views.model_edit, name="model-edit"),
    path("assets/<int:pk>/image.png", views.asset_image, name="asset-image"),
    path("assets/<int:pk>/thumbnail.webp", gallery_views.asset_thumbnail, name="asset-thumbnail"),
    path("assets/<int:pk>/recheck/", views.asset_recheck, name="asset-recheck"),
    path("assets/<int:pk>/upscale/", upscaling_views.asset_upscale, name="asset-upscale"),
    path("assets/<int:pk>/published.png", views.asset_published, name="asset-published"),
    path("verify/", views.verify_page, name="verify"),
    path("assets/<int:pk>/export/<str:fmt>/", views.asset_export, name="asset-export"),
    path("requests/<int:pk>/revise/", views.request_revise, name="request-revise"),
    # Share links: the public download, and the page's buttons (sharing_views.py).
    path("share/<str:token>/", sharing_views.share_download, name="share"),
    path("assets/<int:pk>/share/", sharing_views.asset_share, name="asset-share"),
    path("share-links/<int:pk>/revoke/", sharing_views.share_revoke, name="share-revoke"),
    path(
        "organizations/<slug:slug>/sharing/",
        sharing_views.sharing_settings,
        name="sharing-settings",
    ),
]
