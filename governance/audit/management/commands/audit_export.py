"""Stream the audit log as JSON Lines: one event a line, its hashed fields plus its hash,
in sequence order (the format ``tools/audit_verify.py`` reads)."""

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import ngettext

from governance.audit.chain import canonical_json
from governance.audit.models import AuditEvent
from governance.audit.verify import iter_events


def parse_moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{value!r} is not an ISO 8601 date or date and time.")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["jsonl"], default="jsonl")
        parser.add_argument("--since", help="from this time on (ISO 8601, inclusive)")
        parser.add_argument("--until", help="before this time (ISO 8601, exclusive)")
        parser.add_argument("--output", "-o", help="a file instead of standard output")

    def handle(self, *args, since, until, output, **options):
        # Times select a contiguous range of sequence numbers, so a slice still verifies.
        events = AuditEvent.objects.all()
        first, last = 1, None
        if since:
            found = events.filter(created_at__gte=parse_moment(since)).order_by("sequence")
            first = found.values_list("sequence", flat=True).first()
        if until:
            found = events.filter(created_at__lt=parse_moment(until)).order_by("-sequence")
            last = found.values_list("sequence", flat=True).first() or 0
        stream = open(output, "w", encoding="utf-8") if output else None  # noqa: SIM115
        write = stream.write if stream else lambda text: self.stdout.write(text, ending="")
        count = 0
        try:
            if first is not None:
                for event in iter_events(first=first, last=last):
                    write(canonical_json(event) + "\n")
                    count += 1
        finally:
            if stream:
                stream.close()
        self.stderr.write(ngettext("exported %d event", "exported %d events", count) % count)
