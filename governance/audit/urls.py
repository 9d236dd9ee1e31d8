from django.urls import path

from governance.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="list"),
    path("events/<int:sequence>/", views.event_detail, name="detail"),
    path("events/<int:sequence>/proof.json", views.event_proof, name="proof"),
    path("export.<str:fmt>", views.event_export, name="export"),
    path("verify/", views.chain_verify, name="verify"),
    path("checkpoints.jsonl", views.checkpoints_download, name="checkpoints"),
    path("reports/", views.report, name="report"),
    path("reports/pdf/", views.report_pdf, name="report-pdf"),
]
