"""The report form: whose report (organisation, optional project) and for which days."""

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from governance.audit.reports import (
    DEFAULT_PERIOD_DAYS,
    MAX_PERIOD_DAYS,
    ReportScope,
    period_for_days,
)
from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Action

# The days a report may name: the log holds nothing older, and the period's bounds (the day
# after ``until``, in any time zone) must stay within what dates and the database can hold.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)


class ReportForm(forms.Form):
    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), to_field_name="slug", empty_label=None
    )
    project = forms.RegexField(
        regex=r"^([-a-zA-Z0-9_]+/)?[-a-zA-Z0-9_]+$",
        required=False,
        help_text="Leave “All projects” for the whole organisation.",
        error_messages={"invalid": "Choose a project from the list."},
    )
    since = forms.DateField(label="From", required=False)
    until = forms.DateField(label="To (inclusive)", required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = Organization.objects.restrict(
            user, Action.AUDIT
        ).order_by("name")
        # The project picker: each organisation's projects, grouped by organisation.
        projects = BrandProject.objects.filter(
            organization__in=self.fields["organization"].queryset
        ).select_related("organization")
        groups: dict = {}
        for project in projects.order_by("organization__name", "name"):
            groups.setdefault(project.organization, []).append(project)
        self.project_groups = list(groups.items())
        today = timezone.localdate()
        self.fields["until"].initial = today
        self.fields["since"].initial = today - timedelta(days=DEFAULT_PERIOD_DAYS - 1)

    def _clean_day(self, name: str):
        day = self.cleaned_data.get(name)
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise forms.ValidationError(
                f"Give a day between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}."
            )
        return day

    def clean_since(self):
        return self._clean_day("since")

    def clean_until(self):
        return self._clean_day("until")

    def clean(self):
        cleaned = super().clean()
        if self.has_error("since") or self.has_error("until"):
            return cleaned
        today = timezone.localdate()
        until = cleaned.get("until") or today
        since = cleaned.get("since") or until - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if since > until:
            self.add_error("since", "The period starts after it ends.")
        elif (until - since).days + 1 > MAX_PERIOD_DAYS:
            self.add_error("since", f"A report covers at most {MAX_PERIOD_DAYS} days.")
        cleaned["since"], cleaned["until"] = since, until
        organization = cleaned.get("organization")
        slug = cleaned.get("project")
        if slug and "/" in slug:
            # The picker's "organisation/project": the project names its organisation.
            organization_slug, slug = slug.split("/", 1)
            chosen = self.fields["organization"].queryset.filter(slug=organization_slug).first()
            if chosen is None:
                self.add_error("project", "Choose a project from the list.")
                cleaned["project_object"] = None
                return cleaned
            organization = cleaned["organization"] = chosen
        cleaned["project_object"] = None
        if organization is not None and slug:
            project = BrandProject.objects.filter(organization=organization, slug=slug).first()
            if project is None:
                self.add_error(
                    "project",
                    f"{organization.name} has no project “{slug}”: choose one of its projects, "
                    "or all projects.",
                )
            cleaned["project_object"] = project
        return cleaned

    def scope(self) -> ReportScope:
        since, until = period_for_days(self.cleaned_data["since"], self.cleaned_data["until"])
        return ReportScope(
            organization=self.cleaned_data["organization"],
            project=self.cleaned_data["project_object"],
            since=since,
            until=until,
        )
