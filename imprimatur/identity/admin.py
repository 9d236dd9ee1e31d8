from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from governance.audit.admin import AuditedAdmin
from imprimatur.identity.discovery import provider_discover
from imprimatur.identity.models import IdentityLink, SingleSignOn
from imprimatur.identity.services import (
    CONFIG_FIELDS,
    break_glass_check,
    domains_clean,
    issuer_check,
    sso_configure,
)


class SingleSignOnForm(forms.ModelForm):
    issuer = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="The provider's issuer URL, exactly as its tokens name it.",
    )
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Never shown back. Leave empty to keep the current secret.",
    )

    class Meta:
        model = SingleSignOn
        fields = ["organization", *CONFIG_FIELDS, "break_glass_users"]

    def clean(self):
        """The service's checks, before anything is saved: discovery, domains, break-glass."""
        data = super().clean()
        if self.errors:
            return data
        self.metadata = None
        try:
            issuer_check(data["issuer"])
            if not self.instance.pk or data["issuer"] != self.instance.issuer:
                self.metadata = provider_discover(data["issuer"])
            data["email_domains"] = domains_clean(data["organization"], data["email_domains"])
            draft = SingleSignOn(
                organization=data["organization"], password_login=data["password_login"]
            )
            break_glass_check(draft, list(data["break_glass_users"]))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc
        return data


@admin.register(SingleSignOn)
class SingleSignOnAdmin(admin.ModelAdmin):
    """Saved through ``services.sso_configure``, which records ``identity.sso.configure``."""

    form = SingleSignOnForm
    list_display = ["organization", "issuer", "client_id", "enabled", "password_login"]
    readonly_fields = [
        "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
        "token_auth_method", "discovered_at",
    ]  # fmt: skip
    autocomplete_fields = ["organization"]
    filter_horizontal = ["break_glass_users"]

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in CONFIG_FIELDS}
        if not values["client_secret"] and change:
            del values["client_secret"]  # kept
        saved = sso_configure(
            organization=form.cleaned_data["organization"],
            actor=request.user,
            break_glass=form.cleaned_data["break_glass_users"],
            metadata=form.metadata,
            **values,
        )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """The service set the break-glass admins already."""


@admin.register(IdentityLink)
class IdentityLinkAdmin(AuditedAdmin):
    """Deleting a link (audited) lets the subject be linked or provisioned again."""

    list_display = ["user", "organization", "issuer", "subject", "last_sign_in_at"]
    list_filter = ["organization"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "organization", "issuer", "subject", "created_at", "last_sign_in_at"]

    def has_add_permission(self, request):
        return False
