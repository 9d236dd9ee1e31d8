"""Create (or replace) an organisation's SCIM bearer token and print it once."""

from django.core.management.base import BaseCommand, CommandError

from imprimatur.scim.services import scim_token_rotate
from imprimatur.tenancy.models import Organization


class Command(BaseCommand):
    help = (
        "Create a SCIM 2.0 bearer token for an organisation, replacing its old one (which stops "
        "working at once), and print it. Only its digest is stored: copy it into the identity "
        "provider now. The SCIM base URL is <site>/scim/v2/."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--organization", required=True, help="The organisation's slug, e.g. acme."
        )

    def handle(self, *args, **options):
        slug = options["organization"]
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            known = ", ".join(Organization.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No organisation with slug {slug!r}; known: {known}.")
        token = scim_token_rotate(organization=organization, actor=None)
        self.stderr.write(
            f"New SCIM token for {organization.name} (the old one, if any, no longer works):"
        )
        self.stdout.write(token)
