import json

from django.contrib import admin

from governance.audit import events
from governance.audit.models import AuditCheckpoint, AuditEvent


def _organization_of(obj):
    """The organisation an object belongs to, by the path its model names
    (``OrganizationScoped.organization_path``); None for an object of no organisation."""
    from imprimatur.tenancy.models import Organization

    if isinstance(obj, Organization):
        return obj
    path = getattr(type(obj), "organization_path", None)
    if not path:
        return None
    related = obj
    for name in path.split("__"):
        related = getattr(related, name, None)
        if related is None:
            return None
    return related if isinstance(related, Organization) else None


class AuditedAdmin(admin.ModelAdmin):
    """Django admin changes bypass the services, so they are audited here: every add,
    change and deletion made in /admin/ is an ``admin.object.*`` event with Django's own
    description of the change."""

    @staticmethod
    def _change(message) -> str:
        if isinstance(message, list):  # Django's structured change message
            message = json.dumps(message, sort_keys=True)
        return message or ""

    def log_addition(self, request, obj, message):
        events.admin_object_added(
            actor=request.user,
            obj=obj,
            organization=_organization_of(obj),
            change=self._change(message),
        )
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        events.admin_object_changed(
            actor=request.user,
            obj=obj,
            organization=_organization_of(obj),
            change=self._change(message),
        )
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            events.admin_object_deleted(
                actor=request.user, obj=obj, organization=_organization_of(obj)
            )
        return super().log_deletions(request, queryset)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The log is append-only: nobody adds, changes or deletes events here."""

    list_display = ["sequence", "created_at", "actor_name", "organization", "action", "target_repr"]
    list_filter = ["action", "organization"]
    search_fields = ["target_repr", "actor_name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(admin.ModelAdmin):
    list_display = ["sequence", "created_at", "hash", "key_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
