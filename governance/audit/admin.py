import json

from django.contrib import admin

from governance.audit.models import AuditCheckpoint, AuditEvent


def _organization_of(obj):
    from imprimatur.tenancy.models import Organization

    if isinstance(obj, Organization):
        return obj
    for path in ("organization", "project", "request", "job"):
        related = getattr(obj, path, None)
        if related is None:
            continue
        if isinstance(related, Organization):
            return related
        return _organization_of(related)
    return None


class AuditedAdmin(admin.ModelAdmin):
    """Django admin changes bypass the services, so they are audited here: every add,
    change and deletion made in /admin/ is an ``admin.object.*`` event with Django's own
    description of the change."""

    def _audit(self, request, action: str, obj, message) -> None:
        from governance.audit.services import audit_record

        if isinstance(message, list):  # Django's structured change message
            message = json.dumps(message, sort_keys=True)
        audit_record(
            action=action,
            actor=request.user,
            organization=_organization_of(obj),
            target=obj,
            data={"model": obj._meta.label_lower, "change": message or ""},
        )

    def log_addition(self, request, obj, message):
        self._audit(request, "admin.object.add", obj, message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, "admin.object.change", obj, message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, "admin.object.delete", obj, "")
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
