"""Print the signed checkpoints as JSON with the public key that verifies them."""

import json

from django.core.management.base import BaseCommand

from governance.audit.models import AuditCheckpoint
from governance.audit.proofs import audit_checkpoint
from governance.audit.signing import checkpoints_export


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--create", action="store_true", help="sign the head first")
        parser.add_argument("--output", "-o", help="a file instead of standard output")

    def handle(self, *args, create, output, **options):
        if create:
            audit_checkpoint()
        document = json.dumps(
            checkpoints_export(AuditCheckpoint.objects.order_by("sequence", "id").iterator()),
            indent=2,
        )
        if output:
            with open(output, "w", encoding="utf-8") as stream:
                stream.write(document + "\n")
        else:
            self.stdout.write(document)
