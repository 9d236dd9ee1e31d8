import os

from django.core.management.base import BaseCommand, CommandError

from governance.audit.verify import audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit hash chain and its signed checkpoints, then compare them with the "
        "witness outside the database (IMPRIMATUR_AUDIT_WITNESS) or with an auditor's copy of "
        "the checkpoints (--checkpoints); exit 1 if broken, naming the first event that "
        "differs. The chain is walked in --jobs ranges at once (one process each; default: "
        "one per CPU)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--jobs",
            type=int,
            default=os.cpu_count() or 1,
            help="Processes walking ranges of the chain in parallel (default: the CPU count).",
        )
        parser.add_argument(
            "--checkpoints",
            metavar="FILE",
            help="Compare with this file of signed checkpoints (JSON Lines, as the audit page "
            "and GET /api/v1/audit/checkpoints/ download them) instead of the witness.",
        )
        parser.add_argument(
            "--no-witness",
            action="store_true",
            help="Check the database on its own (it cannot find a rewrite that recomputed "
            "every later hash and removed the checkpoint rows).",
        )

    def handle(self, *args, batch_size, jobs, checkpoints, no_witness, **options):
        if jobs < 1:
            raise CommandError("--jobs must be at least 1.")
        if checkpoints and no_witness:
            raise CommandError("--checkpoints and --no-witness exclude each other.")
        if checkpoints and not os.path.isfile(checkpoints):
            raise CommandError(f"{checkpoints} is not a file.")
        result = audit_verify(
            batch_size=batch_size,
            jobs=jobs,
            witness=not no_witness,
            checkpoints_file=checkpoints,
        )
        if not result.intact:
            raise CommandError(str(result), returncode=1)
        self.stdout.write(str(result))
