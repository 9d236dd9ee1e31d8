"""Read-only admin views: statuses change only through the transition services."""

from django.contrib import admin

from generation.jobs.models import Asset, GenerationJob, GenerationRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(GenerationRequest)
class GenerationRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "project",
        "created_by",
        "status",
        "policy_outcome",
        "model_name",
        "created_at",
    ]
    list_filter = ["status", "policy_outcome", "project"]
    search_fields = ["prompt"]


@admin.register(GenerationJob)
class GenerationJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "request", "status", "attempts", "current_step", "total_steps"]
    list_filter = ["status"]


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdmin):
    list_display = ["id", "request", "index", "seed", "width", "height", "status"]
