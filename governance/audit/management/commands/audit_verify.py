import os

from django.core.management.base import BaseCommand, CommandError

from governance.audit.verify import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit hash chain and its signed checkpoints; exit 1 if broken. The chain "
        "is walked in --jobs ranges at once (one process each; default: one per CPU)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--jobs",
            type=int,
            default=os.cpu_count() or 1,
            help="Processes walking ranges of the chain in parallel (default: the CPU count).",
        )

    def handle(self, *args, batch_size, jobs, **options):
        if jobs < 1:
            raise CommandError("--jobs must be at least 1.")
        result = audit_verify(batch_size=batch_size, jobs=jobs)
        if not result.intact:
            raise CommandError(str(result), returncode=1)
        self.stdout.write(str(result))
