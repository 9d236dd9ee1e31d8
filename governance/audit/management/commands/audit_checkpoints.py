"""Print the signed checkpoints: from the database as one JSON document with the public key
that verifies them, or (--witness) as the witness holds them, one JSON line each (what the
audit page's download gives, and what ``audit_verify --checkpoints`` reads)."""

import json

from django.core.management.base import BaseCommand, CommandError

from governance.audit.models import AuditCheckpoint
from governance.audit.proofs import audit_checkpoint
from governance.audit.signing import checkpoints_export
from governance.audit.witness import WitnessError, configured_witness, entry_line


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--create", action="store_true", help="sign the head first")
        parser.add_argument(
            "--witness", action="store_true", help="the witness's entries, as JSON Lines"
        )
        parser.add_argument("--output", "-o", help="a file instead of standard output")

    def handle(self, *args, create, witness, output, **options):
        if create:
            audit_checkpoint()
        if witness:
            try:
                document = "".join(entry_line(e) for e in configured_witness().entries())
            except WitnessError as error:
                raise CommandError(str(error)) from None
        else:
            checkpoints = AuditCheckpoint.objects.order_by("sequence", "id").iterator()
            document = json.dumps(checkpoints_export(checkpoints), indent=2) + "\n"
        if output:
            with open(output, "w", encoding="utf-8") as stream:
                stream.write(document)
        else:
            self.stdout.write(document, ending="")
