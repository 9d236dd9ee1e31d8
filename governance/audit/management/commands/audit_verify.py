from django.core.management.base import BaseCommand, CommandError

from governance.audit.verify import audit_verify


class Command(BaseCommand):
    help = "Verify the audit hash chain and its signed checkpoints; exit 1 if broken."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, batch_size, **options):
        result = audit_verify(batch_size=batch_size)
        if not result.intact:
            raise CommandError(str(result), returncode=1)
        self.stdout.write(str(result))
