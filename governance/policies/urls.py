from django.urls import path

from governance.policies import pack_views, views

app_name = "policies"

urlpatterns = [
    path("", views.policy_list, name="list"),
    path("new/", views.policy_new, name="new"),
    path("<int:pk>/", views.policy_detail, name="detail"),
    path("<int:pk>/edit/", views.policy_edit, name="edit"),
    path("<int:pk>/try/", views.policy_try, name="try"),
    path("<int:pk>/publish/", views.policy_publish, name="publish"),
    path("<int:pk>/recheck/", views.policy_recheck, name="recheck"),
    path("<int:pk>/packs/", pack_views.policy_packs, name="packs"),
    path("<int:pk>/versions/", views.version_list, name="versions"),
    path("<int:pk>/versions/<int:number>/", views.version_detail, name="version"),
]
