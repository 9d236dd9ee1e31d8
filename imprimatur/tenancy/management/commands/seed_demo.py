"""Create the demo organisation "Acme", one user per role and a brand project."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from imprimatur.tenancy.models import BrandProject, Organization
from imprimatur.tenancy.permissions import Role
from imprimatur.tenancy.services import membership_grant, organization_create, project_create

DEMO_PROJECT = {
    "name": "Spring Campaign",
    "slug": "spring-campaign",
    "description": "Seasonal visuals for Acme's spring launch: bright, simple, optimistic.",
    "palette": ["#1F3A93", "#F2C14E", "#F78154", "#4D9078", "#FFFFFF"],
    "on_brand_descriptors": ["clean flat shapes", "bright daylight colours", "calm and friendly"],
    "off_brand_descriptors": ["dark and gloomy", "cluttered", "violent imagery"],
}


class Command(BaseCommand):
    help = (
        "Create the demo organisation Acme with users creator, reviewer, compliance, admin "
        "and auditor (password: $IMPRIMATUR_DEMO_PASSWORD, else generated once into "
        "var/demo_password and printed), the brand project spring-campaign, and Acme's "
        "baseline prompt policy (every baseline pack, published by admin; see the command "
        "policy_baseline). Safe to run twice: existing users keep their password unless "
        "IMPRIMATUR_DEMO_PASSWORD is set; an existing published policy is left as it is."
    )

    def handle(self, *args, **options):
        password, reset = self._password()
        User = get_user_model()
        with transaction.atomic():
            organization = Organization.objects.filter(slug="acme").first()
            if organization is None:
                organization = organization_create(name="Acme", slug="acme")
            for role in Role.values:
                user, created = User.objects.get_or_create(
                    username=role, defaults={"email": f"{role}@acme.example"}
                )
                if created or reset:
                    user.set_password(password)
                    user.save()
                membership_grant(organization=organization, user=user, role=role)
            if not BrandProject.objects.filter(
                organization=organization, slug=DEMO_PROJECT["slug"]
            ).exists():
                project_create(organization=organization, **DEMO_PROJECT)
            # A fresh install judges prompts by the baseline packs, not by no policy at all.
            # By command name: tenancy does not import the policies app.
            call_command("policy_baseline", "acme", user=str(Role.ADMIN), stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready: organisation Acme, project spring-campaign, users "
                + ", ".join(Role.values)
                + f". Password: {password}"
            )
        )

    def _password(self) -> tuple[str, bool]:
        """The demo password and whether it must be (re)set on existing users."""
        if settings.IMPRIMATUR_DEMO_PASSWORD:
            return settings.IMPRIMATUR_DEMO_PASSWORD, True
        stored = settings.VAR_DIR / "demo_password"
        if stored.exists():
            return stored.read_text().strip(), False
        password = secrets.token_urlsafe(12)
        stored.write_text(password)
        stored.chmod(0o600)
        return password, False
