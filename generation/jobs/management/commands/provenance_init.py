"""Create the development C2PA signer: a root CA and a signer certificate under var/."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create a development root CA and a C2PA signer certificate that meets the C2PA "
        "certificate profile, under var/provenance/ (kept if they exist), and check them. "
        "Local verification trusts the development root. With IMPRIMATUR_SIGNER_CHAIN and "
        "IMPRIMATUR_SIGNER_KEY set, checks that signer instead and creates nothing."
    )

    def handle(self, *args, **options):
        from generation.jobs.signing import dev_pki_dir, signer_load
        from generation.provenance import CertificateProfileError, create_development_pki

        configured = bool(settings.IMPRIMATUR_SIGNER_CHAIN and settings.IMPRIMATUR_SIGNER_KEY)
        if not configured:
            pki = create_development_pki(dev_pki_dir())
            self.stdout.write(f"Development signer in {pki.directory} (root: {pki.root}).")
        try:
            signer = signer_load()
        except CertificateProfileError as error:
            raise CommandError(f"The signer does not meet the C2PA profile: {error}") from None
        profile = signer.profile
        self.stdout.write(
            self.style.SUCCESS(
                f"C2PA signer ready: {profile.subject} ({profile.algorithm}), valid until "
                f"{profile.not_after:%Y-%m-%d}."
            )
        )
