"""Give an organisation the baseline policy: adopt the latest version of every baseline pack
(sexual content, violence, hate, drugs, weapons, self-harm, minors, public figures,
trademarks) with its default action in the organisation policy, and publish it. Does nothing
when the organisation already has a published policy. ``seed_demo`` runs it for Acme."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from governance.policies.services import policy_baseline_adopt
from imprimatur.tenancy.models import Organization


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("organization", help="the organisation's slug")
        parser.add_argument(
            "--user",
            required=True,
            help="username of an admin or compliance officer of the organisation, who is "
            "recorded as having published the policy",
        )

    def handle(self, *args, organization, user, **options):
        found = Organization.objects.filter(slug=organization).first()
        if found is None:
            raise CommandError(f"There is no organisation {organization!r}.")
        publisher = get_user_model().objects.filter(username=user).first()
        if publisher is None:
            raise CommandError(f"There is no user {user!r}.")
        try:
            version = policy_baseline_adopt(organization=found, user=publisher)
        except (PermissionDenied, ValidationError) as error:
            raise CommandError(" ".join(getattr(error, "messages", [str(error)]))) from None
        if version is None:
            self.stdout.write(f"{found.name} already has a published policy: nothing changed.")
            return
        packs = ", ".join(entry["pack"] for entry in version.content["packs"])
        self.stdout.write(
            self.style.SUCCESS(f"{found.name}: published {version} with the packs {packs}.")
        )
