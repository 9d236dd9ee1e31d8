"""Read-only admin views: policies change only through the services, which audit each edit."""

from django.contrib import admin

from governance.policies.models import Policy, PolicyVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PolicyVersionInline(admin.TabularInline):
    model = PolicyVersion
    fields = ["number", "content_sha256", "published_by", "published_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Policy)
class PolicyAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "organization", "project", "updated_at"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name", "project__name"]
    inlines = [PolicyVersionInline]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "number", "published_by", "published_at", "content_sha256"]
    list_filter = ["policy__organization"]
