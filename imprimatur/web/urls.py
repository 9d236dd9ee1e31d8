from django.urls import path

from imprimatur.web import members, views

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
    path("members/", members.members_page, name="members"),
    path("members/<slug:slug>/invite/", members.member_invite_view, name="member-invite"),
    path("members/<slug:slug>/scim-token/", members.scim_token_view, name="scim-token"),
    path("members/<slug:slug>/group-roles/", members.group_role_add_view, name="group-role-add"),
    path(
        "members/<slug:slug>/group-roles/<int:pk>/remove/",
        members.group_role_remove_view,
        name="group-role-remove",
    ),
    path(
        "members/<slug:slug>/<int:user_id>/roles/", members.member_roles_view, name="member-roles"
    ),
    path(
        "members/<slug:slug>/<int:user_id>/deactivate/",
        members.member_deactivate_view,
        name="member-deactivate",
    ),
    path(
        "members/<slug:slug>/<int:user_id>/unlock/",
        members.member_unlock_view,
        name="member-unlock",
    ),
    path(
        "members/<slug:slug>/<int:user_id>/token/revoke/",
        members.member_token_revoke_view,
        name="member-token-revoke",
    ),
]
