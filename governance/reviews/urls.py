from django.urls import path

from governance.reviews import views

app_name = "reviews"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("bulk-approve/", views.bulk_approve, name="bulk-approve"),
    path("tasks/<int:pk>/", views.task_detail, name="task"),
    path("projects/<slug:slug>/workflow/", views.workflow_edit, name="workflow"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/", views.inbox_open, name="inbox-open"),
]
