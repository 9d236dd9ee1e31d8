"""Print an inclusion proof of one audit event as JSON: the event, its audit path in the
Merkle tree of the log, and the signed checkpoint it leads to. Check it anywhere with
``python3 tools/audit_verify.py --proof FILE``."""

import json

from django.core.management.base import BaseCommand, CommandError

from governance.audit.models import AuditEvent
from governance.audit.proofs import NoCheckpoint, inclusion_proof


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("sequence", type=int, help="the event's sequence number")
        parser.add_argument(
            "--create",
            action="store_true",
            help="sign a checkpoint at the head first when none covers the event yet",
        )
        parser.add_argument("--output", "-o", help="a file instead of standard output")

    def handle(self, *args, sequence, create, output, **options):
        try:
            proof = inclusion_proof(sequence, sign=create)
        except AuditEvent.DoesNotExist:
            raise CommandError(f"There is no audit event {sequence}.") from None
        except NoCheckpoint as error:
            raise CommandError(
                f"{error} Sign one with --create (or `manage.py audit_checkpoints --create`)."
            ) from None
        document = json.dumps(proof, indent=2, ensure_ascii=False)
        if output:
            with open(output, "w", encoding="utf-8") as stream:
                stream.write(document + "\n")
        else:
            self.stdout.write(document)
