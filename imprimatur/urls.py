"""URLs: the web UI at /, the JSON API under /api/v1/, its schema and docs under /api/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from generation.jobs import api as jobs_api
from generation.jobs import assets_api as jobs_assets_api
from generation.jobs import catalog_api, destinations_api, sharing_api
from generation.styles import api as styles_api
from governance.audit import api as audit_api
from governance.policies import api as policies_api
from governance.reviews import api as reviews_api
from imprimatur import api, health
from imprimatur.accounts import api as accounts_api
from imprimatur.accounts import views as accounts_views
from imprimatur.tenancy import api as tenancy_api
from imprimatur.web import members_api
from imprimatur.webhooks import api as webhooks_api

api_patterns = [
    path("reviews/tasks/", reviews_api.TaskListView.as_view(), name="review-task-list"),
    path(
        "reviews/tasks/<int:pk>/", reviews_api.TaskDetailView.as_view(), name="review-task-detail"
    ),
    path(
        "projects/<slug:slug>/workflow/",
        reviews_api.WorkflowView.as_view(),
        name="project-workflow",
    ),
    path("reviews/bulk-approve/", reviews_api.BulkDecideView.as_view(), name="review-bulk"),
    path("inbox/", reviews_api.InboxView.as_view(), name="inbox"),
    path("inbox/read/", reviews_api.InboxReadView.as_view(), name="inbox-read"),
    path(
        "reviews/tasks/<int:pk>/decide/",
        reviews_api.TaskDecideView.as_view(),
        name="review-task-decide",
    ),
    path("auth/token/", api.ObtainTokenView.as_view(), name="auth-token"),
    path(
        "members/<int:user_id>/unlock/",
        accounts_api.MemberUnlockView.as_view(),
        name="member-unlock",
    ),
    path("members/", members_api.MemberListView.as_view(), name="member-list"),
    path("members/invite/", members_api.MemberInviteView.as_view(), name="member-invite"),
    path("members/<int:user_id>/", members_api.MemberDetailView.as_view(), name="member-detail"),
    path(
        "members/<int:user_id>/deactivate/",
        members_api.MemberDeactivateView.as_view(),
        name="member-deactivate",
    ),
    path("audit/report/", audit_api.ReportView.as_view(), name="audit-report"),
    path("audit/checkpoints/", audit_api.CheckpointsView.as_view(), name="audit-checkpoints"),
    path("audit/export/", audit_api.ExportView.as_view(), name="audit-export"),
    path("audit/verify/", audit_api.VerifyView.as_view(), name="audit-verify"),
    path("projects/", tenancy_api.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:slug>/", tenancy_api.ProjectDetailView.as_view(), name="project-detail"),
    path(
        "projects/<slug:slug>/requests/",
        jobs_api.ProjectRequestListView.as_view(),
        name="project-request-list",
    ),
    path("requests/", jobs_api.RequestListView.as_view(), name="request-list"),
    path("requests/<int:pk>/", jobs_api.RequestDetailView.as_view(), name="request-detail"),
    path("requests/<int:pk>/cancel/", jobs_api.RequestCancelView.as_view(), name="request-cancel"),
    path("requests/<int:pk>/rerun/", jobs_api.RequestRerunView.as_view(), name="request-rerun"),
    path("models/", catalog_api.ModelProfileListView.as_view(), name="model-list"),
    path("models/<int:pk>/", catalog_api.ModelProfileDetailView.as_view(), name="model-detail"),
    path("assets/<int:pk>/", jobs_assets_api.AssetDetailView.as_view(), name="asset-detail"),
    path("assets/<int:pk>/file/", jobs_assets_api.AssetFileView.as_view(), name="asset-file"),
    path("assets/<int:pk>/export/", jobs_assets_api.AssetExportView.as_view(), name="asset-export"),
    path(
        "assets/<int:pk>/upscale/", jobs_assets_api.AssetUpscaleView.as_view(), name="asset-upscale"
    ),
    path("provenance/verify/", jobs_assets_api.VerifyView.as_view(), name="provenance-verify"),
    # Brand styles: presets and style models (generation/styles/).
    path(
        "projects/<slug:slug>/presets/",
        styles_api.ProjectPresetListView.as_view(),
        name="preset-list",
    ),
    path("presets/<int:pk>/", styles_api.PresetDetailView.as_view(), name="preset-detail"),
    path(
        "projects/<slug:slug>/styles/",
        styles_api.ProjectStyleListView.as_view(),
        name="style-list",
    ),
    path("styles/<int:pk>/", styles_api.StyleDetailView.as_view(), name="style-detail"),
    path("styles/<int:pk>/train/", styles_api.StyleTrainView.as_view(), name="style-train"),
    path("styles/<int:pk>/cancel/", styles_api.StyleCancelView.as_view(), name="style-cancel"),
    path("styles/<int:pk>/review/", styles_api.StyleReviewView.as_view(), name="style-review"),
    path(
        "assets/<int:pk>/share-links/",
        sharing_api.AssetShareLinkListView.as_view(),
        name="asset-share-links",
    ),
    path(
        "share-links/<int:pk>/revoke/",
        sharing_api.ShareLinkRevokeView.as_view(),
        name="share-link-revoke",
    ),
    path(
        "organizations/<slug:slug>/sharing/",
        sharing_api.SharingView.as_view(),
        name="organization-sharing",
    ),
    path("policies/", policies_api.PolicyListView.as_view(), name="policy-list"),
    path("policies/<int:pk>/", policies_api.PolicyDetailView.as_view(), name="policy-detail"),
    path(
        "policies/<int:pk>/publish/",
        policies_api.PolicyPublishView.as_view(),
        name="policy-publish",
    ),
    path(
        "policies/<int:pk>/versions/",
        policies_api.PolicyVersionListView.as_view(),
        name="policy-version-list",
    ),
    path(
        "policies/<int:pk>/versions/<int:number>/",
        policies_api.PolicyVersionDetailView.as_view(),
        name="policy-version-detail",
    ),
    path(
        "policies/<int:pk>/evaluate/",
        policies_api.PolicyEvaluateView.as_view(),
        name="policy-evaluate",
    ),
    path(
        "policies/<int:pk>/recheck/",
        policies_api.PolicyRecheckView.as_view(),
        name="policy-recheck",
    ),
    path(
        "projects/<slug:slug>/destination/",
        destinations_api.ProjectDestinationView.as_view(),
        name="project-destination",
    ),
    # Webhooks (imprimatur/webhooks/): endpoints, secrets, the delivery log.
    path("webhooks/endpoints/", webhooks_api.EndpointListView.as_view(), name="webhook-list"),
    path(
        "webhooks/endpoints/<int:pk>/",
        webhooks_api.EndpointDetailView.as_view(),
        name="webhook-detail",
    ),
    path(
        "webhooks/endpoints/<int:pk>/rotate/",
        webhooks_api.EndpointRotateView.as_view(),
        name="webhook-rotate",
    ),
    path(
        "webhooks/endpoints/<int:pk>/deliveries/",
        webhooks_api.EndpointDeliveryListView.as_view(),
        name="webhook-delivery-list",
    ),
    path(
        "webhooks/deliveries/<int:pk>/",
        webhooks_api.DeliveryDetailView.as_view(),
        name="webhook-delivery-detail",
    ),
    path(
        "webhooks/deliveries/<int:pk>/resend/",
        webhooks_api.DeliveryResendView.as_view(),
        name="webhook-delivery-resend",
    ),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", accounts_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/sso/", include("imprimatur.identity.urls")),  # single sign-on
    # Choosing a password from an e-mailed link (invitations from the members page).
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("api/v1/", include((api_patterns, "api"))),
    path("scim/v2/", include("imprimatur.scim.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("policies/", include("governance.policies.urls")),
    path("reviews/", include("governance.reviews.urls")),
    path("audit/", include("governance.audit.urls")),
    path("settings/webhooks/", include("imprimatur.webhooks.urls")),
    path("", include("generation.jobs.urls")),
    path("", include("generation.styles.urls")),
    path("", include("imprimatur.web.urls")),
]

handler404 = "imprimatur.web.views.not_found"
# Under /api/ these answer in the API's error format (imprimatur/api.py), not an HTML page.
handler400 = "imprimatur.web.views.bad_request"
handler403 = "imprimatur.web.views.permission_denied"
handler500 = "imprimatur.web.views.server_error"
