"""The PDF audit report: built from a hand-made report, read back with pypdf."""

import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from pypdf import PdfReader

from governance.audit.report_pdf import report_pdf
from governance.audit.reports import (
    Chart,
    Figure,
    Report,
    ReportScope,
    Section,
    Table,
    period_for_days,
)

HEAD_HASH = "ab" * 32
CHECKPOINT_HASH = "cd" * 32


class Named:
    """A stand-in for an Organization or BrandProject (not a model): what the report reads."""

    def __init__(self, name: str, slug: str):
        self.name, self.slug = name, slug


def make_report(**changes) -> Report:
    since, until = period_for_days(date(2026, 10, 27), date(2026, 11, 25))
    scope = ReportScope(
        organization=Named("Acme", "acme"),
        since=since,
        until=until,
        project=Named("Spring campaign", "spring-campaign"),
    )
    days = [(str(date(2026, 10, 17) + timedelta(days=n)), n % 7) for n in range(40)]
    generation = Section(
        key="generation",
        title="Generation requests",
        note="Requests made in the period → images Δ checks…",
        figures=[
            Figure("Requests", 1234),
            Figure("Refused by prompt policy", 0.25, note="a quarter — of all requests"),
            Figure("Median time", None),
        ],
        charts=[
            Chart("Requests per model", [("tiny-model", 12), ("big <model> & co", 3.5)]),
            Chart("Requests per day", days, unit="requests", kind="days"),
            Chart("Overrides per day", [(day, 0) for day, _count in days[:10]], kind="days"),
        ],
        tables=[
            Table(
                "Requests per user",
                ["User", "Requests", "Note"],
                [[f"user-{n:03d}", n, "a long note that has to wrap " * 3] for n in range(120)],
                note="Sorted by user name.",
            ),
        ],
    )
    reviews = Section(
        key="reviews",
        title="Reviews and approvals",
        figures=[Figure("Approved", 7)],
        charts=[Chart("Approvals per reviewer", [])],
        tables=[
            Table("Overrides", ["Who", "Why"], [], empty="No overrides in this period."),
            Table("Odd text", ["Text", "Value"], [["<b>&", None], ["plain", 2.5]]),
        ],
    )
    report = Report(
        scope=scope,
        generated_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
        sections=[generation, reviews],
        chain_head=(4321, HEAD_HASH),
        checkpoint={
            "sequence": 4300,
            "hash": CHECKPOINT_HASH,
            "created_at": "2026-11-26T09:00:00+00:00",
            "key_id": "key-1",
        },
    )
    return replace(report, **changes)


def pages_text(pdf: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, [page.extract_text() for page in reader.pages]


def test_the_pdf_has_the_opening_every_section_and_a_footer_on_every_page():
    report = make_report()
    pdf = report_pdf(report)

    assert pdf.startswith(b"%PDF")
    reader, pages = pages_text(pdf)
    text = "\n".join(pages)
    label = report.scope.label
    assert label == "Acme / Spring campaign, 2026-10-27 to 2026-11-25"
    assert "Imprimatur audit report" in pages[0]
    assert label in pages[0]
    assert "Generated 2026-11-26 09:30 UTC" in pages[0]
    assert "event 4321" in pages[0]
    assert HEAD_HASH in pages[0]
    assert "Latest signed checkpoint: event 4300" in pages[0]
    assert CHECKPOINT_HASH[:16] in pages[0]
    assert CHECKPOINT_HASH[:17] not in text
    assert "key-1" in pages[0]
    assert "audit_verify" in pages[0]

    assert "Generation requests" in text
    assert "Reviews and approvals" in text
    assert "Refused by prompt policy" in text
    assert "1234" in text
    assert "0.25" in text
    assert "Requests per day (requests)" in text
    assert "No data in this period." in text  # the all-zero and the empty chart
    assert text.count("No data in this period.") == 2
    assert "No overrides in this period." in text
    assert "<b>&" in text
    assert "Sorted by user name." in text

    # The long table spans pages: a late row is on a later page than the first,
    # and its header row is repeated there.
    late_page = next(index for index, page in enumerate(pages) if "user-119" in page)
    assert late_page > 0
    assert "User" in pages[late_page]
    assert "user-000" not in pages[late_page]

    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert f"page {number}" in page
        assert f"Imprimatur audit report · {label}" in page
    assert "page 2" in pages[1]

    assert reader.metadata.title == f"Imprimatur audit report — {label}"
    assert reader.metadata.author == "Imprimatur"


def test_without_a_checkpoint_the_pdf_says_so():
    pdf = report_pdf(make_report(checkpoint=None, sections=[]))

    _reader, pages = pages_text(pdf)
    assert "No signed checkpoint yet." in pages[0]
    assert "Latest signed checkpoint" not in pages[0]
    assert "event 4321" in pages[0]
