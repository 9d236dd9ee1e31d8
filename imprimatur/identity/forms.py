"""The organisation admin's single sign-on form (``views.sso_settings``)."""

from django import forms
from django.core.exceptions import ValidationError

from imprimatur.identity.models import DEFAULT_SCOPES, SingleSignOn
from imprimatur.identity.selectors import organization_admins
from imprimatur.tenancy.models import GroupRole
from imprimatur.tenancy.permissions import Role


class SingleSignOnSettingsForm(forms.Form):
    enabled = forms.BooleanField(required=False, initial=True, label="Offer single sign-on")
    issuer = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="The provider's issuer URL, exactly as its tokens name it; its discovery "
        "document is read when you save.",
    )
    client_id = forms.CharField(max_length=255)
    client_secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Never shown back. Leave empty to keep the current secret.",
    )
    scopes = forms.CharField(max_length=300, initial=DEFAULT_SCOPES)
    groups_claim = forms.CharField(max_length=100, initial="groups")
    email_domains = forms.CharField(
        required=False,
        help_text="Work email domains that find your organisation on the login page, "
        "separated by commas.",
    )
    group_roles = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Groups → roles",
        help_text=f"One GROUP=ROLE a line; roles: {', '.join(Role.values)}.",
    )
    password_login = forms.BooleanField(
        required=False, initial=True, label="Members may also sign in with a password"
    )
    break_glass_users = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Break-glass admins",
        help_text="Admins who keep their password when password login is off.",
    )

    def __init__(self, *args, organization, sso: SingleSignOn | None, **kwargs):
        kwargs.setdefault("label_suffix", "")  # labels as on the other pages: no colon
        if sso is not None and "data" not in kwargs and not args:
            kwargs["initial"] = {
                "enabled": sso.enabled, "issuer": sso.issuer, "client_id": sso.client_id,
                "scopes": sso.scopes, "groups_claim": sso.groups_claim,
                "email_domains": ", ".join(sso.email_domains),
                "password_login": sso.password_login,
                "break_glass_users": list(sso.break_glass_users.all()),
            }  # fmt: skip
        kwargs.setdefault("initial", {})["group_roles"] = "\n".join(
            f"{row.group}={row.role}" for row in GroupRole.objects.filter(organization=organization)
        )
        super().__init__(*args, **kwargs)
        self.fields["break_glass_users"].queryset = organization_admins(organization)
        self.needs_secret = sso is None

    def clean_email_domains(self) -> list[str]:
        text = self.cleaned_data["email_domains"]
        return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]

    def clean_group_roles(self) -> dict[str, set[str]]:
        mapping: dict[str, set[str]] = {}
        for number, line in enumerate(self.cleaned_data["group_roles"].splitlines(), start=1):
            if not line.strip():
                continue
            group, sep, role = line.rpartition("=")
            if not sep or not group.strip() or role.strip() not in Role.values:
                raise ValidationError(
                    f"Line {number}: write GROUP=ROLE with a role of {', '.join(Role.values)}."
                )
            mapping.setdefault(group.strip(), set()).add(role.strip())
        return mapping

    def service_values(self) -> dict:
        """The fields of ``services.sso_configure``."""
        data = dict(self.cleaned_data)
        values = {
            name: data[name]
            for name in ("enabled", "issuer", "client_id", "scopes", "groups_claim",
                         "email_domains", "password_login")
        }  # fmt: skip
        if data["client_secret"]:
            values["client_secret"] = data["client_secret"]
        return values
