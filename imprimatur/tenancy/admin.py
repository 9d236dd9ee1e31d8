from django.contrib import admin

from governance.audit.admin import AuditedAdmin
from imprimatur.tenancy.models import (
    BrandProject,
    BrandReferenceImage,
    GroupRole,
    Membership,
    Organization,
)


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "organization__name"]
    autocomplete_fields = ["user", "organization"]


class BrandReferenceImageInline(admin.TabularInline):
    model = BrandReferenceImage
    extra = 0


@admin.register(BrandProject)
class BrandProjectAdmin(AuditedAdmin):
    list_display = ["name", "slug", "organization", "queue_priority", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [BrandReferenceImageInline]


@admin.register(GroupRole)
class GroupRoleAdmin(AuditedAdmin):
    list_display = ["group", "role", "organization"]
    list_filter = ["role", "organization"]
    search_fields = ["group", "organization__name"]
