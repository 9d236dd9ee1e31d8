"""An audit report (``governance.audit.reports.Report``) drawn as an A4 PDF with ReportLab.

The PDF opens with the scope, the time it was made and the state of the audit chain (its
head and the latest signed checkpoint), then gives each section in order: its figures as a
two-column table, its charts (horizontal bars per label, or vertical bars per day) and its
tables, whose header rows repeat on every page they span. Every page has a footer naming
the report and the page number.

Only ReportLab's built-in fonts are used; ReportLab draws characters Helvetica lacks (such
as "→" or "Δ") from its Symbol font where it can, and never stops on one. Every text is
escaped before it goes into Paragraph markup.
"""

from __future__ import annotations

import io
import math
from datetime import UTC

# bandit: escape() writes XML (ReportLab paragraphs); nothing XML is parsed.
from xml.sax.saxutils import escape  # nosec B406

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate
from reportlab.platypus import Table as PdfTable

from governance.audit.reports import Chart, Report, Section, Table

TITLE = "Imprimatur audit report"
NO_DATA = "No data in this period."
MARGIN = 18 * mm
WIDTH = A4[0] - 2 * MARGIN  # the frame's width
DAY_LABELS = 10  # at most about this many dates under a "days" chart
BAR_COLOR = colors.HexColor("#4a6fa5")
HEADER_BACKGROUND = colors.HexColor("#e8e8e8")
GRID = colors.HexColor("#bbbbbb")

_base = getSampleStyleSheet()
STYLES = {
    "title": _base["Title"],
    "heading": ParagraphStyle("heading", _base["Heading2"], spaceBefore=14, keepWithNext=1),
    "subheading": ParagraphStyle("subheading", _base["Heading4"], spaceBefore=8, keepWithNext=1),
    "body": ParagraphStyle("body", _base["BodyText"], fontSize=9, leading=12),
    "cell": ParagraphStyle("cell", _base["BodyText"], fontSize=8, leading=10),
    "number": ParagraphStyle("number", _base["BodyText"], fontSize=8, leading=10, alignment=2),
    "header": ParagraphStyle("header", _base["BodyText"], fontName="Helvetica-Bold", fontSize=8),
    "header_number": ParagraphStyle(
        "header_number", _base["BodyText"], fontName="Helvetica-Bold", fontSize=8, alignment=2
    ),
    "note": ParagraphStyle(
        "note", _base["BodyText"], fontSize=7.5, leading=9.5, textColor=colors.grey
    ),
    "empty": ParagraphStyle(
        "empty",
        _base["BodyText"],
        fontName="Helvetica-Oblique",
        fontSize=8.5,
        textColor=colors.grey,
    ),
}


def report_pdf(report: Report) -> bytes:
    """The report as the bytes of a PDF file."""
    label = report.scope.label
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=f"{TITLE} — {label}",
        author="Imprimatur",
    )

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(colors.grey)
        canvas.drawString(MARGIN, MARGIN - 2 * mm, f"{TITLE} · {label} · page {doc.page}")
        canvas.restoreState()

    story = _opening(report)
    for section in report.sections:
        story += _section(section)
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def _opening(report: Report) -> list:
    generated = report.generated_at
    if generated.tzinfo is None:
        generated = generated.replace(tzinfo=UTC)
    sequence, head_hash = report.chain_head
    integrity = (
        f"The audit log's head when this report was made: event {sequence}, hash {head_hash}."
    )
    checkpoint = report.checkpoint
    if checkpoint:
        integrity += (
            f" Latest signed checkpoint: event {checkpoint['sequence']}, hash"
            f" {checkpoint['hash'][:16]}…, signed {checkpoint['created_at']}"
            f" with key {checkpoint['key_id']}."
        )
    else:
        integrity += " No signed checkpoint yet."
    verify = (
        " Verify the log with <font name='Courier'>python manage.py audit_verify</font>, or an"
        " exported JSON Lines file with <font name='Courier'>tools/audit_verify.py</font>."
    )
    return [
        Paragraph(escape(TITLE), STYLES["title"]),
        Paragraph(escape(report.scope.label), STYLES["body"]),
        Paragraph(f"Generated {generated.astimezone(UTC):%Y-%m-%d %H:%M} UTC", STYLES["body"]),
        Paragraph("Integrity", STYLES["subheading"]),
        Paragraph(escape(integrity) + verify, STYLES["body"]),
    ]


def _section(section: Section) -> list:
    story = [Paragraph(escape(section.title), STYLES["heading"])]
    if section.note:
        story.append(Paragraph(escape(section.note), STYLES["body"]))
    if section.figures:
        rows = []
        for figure in section.figures:
            value = escape(_text(figure.value))
            if figure.note:
                value += f"<br/><font size='7' color='grey'>{escape(figure.note)}</font>"
            rows.append([_cell(figure.label), Paragraph(value, STYLES["cell"])])
        figures = PdfTable(
            rows, colWidths=[WIDTH * 0.45, WIDTH * 0.3], hAlign="LEFT", spaceBefore=2 * mm
        )
        figures.setStyle(
            [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID)]
        )
        story.append(figures)
    for chart in section.charts:
        story.append(KeepTogether(_chart(chart)))
    for table in section.tables:
        story += _table(table)
    return story


def _chart(chart: Chart) -> list:
    title = chart.title + (f" ({chart.unit})" if chart.unit else "")
    heading = Paragraph(escape(title), STYLES["subheading"])
    if not chart.points or not any(value for _label, value in chart.points):
        return [heading, Paragraph(NO_DATA, STYLES["empty"])]
    labels = [str(label) for label, _value in chart.points]
    values = [float(value or 0) for _label, value in chart.points]
    if chart.kind == "days":
        step = max(1, math.ceil(len(labels) / DAY_LABELS))
        drawing, bars = Drawing(WIDTH, 150), VerticalBarChart()
        bars.x, bars.y, bars.width, bars.height = 40, 35, WIDTH - 50, 105
        bars.categoryAxis.categoryNames = [
            label if index % step == 0 else "" for index, label in enumerate(labels)
        ]
        bars.categoryAxis.labels.angle = 30
        bars.categoryAxis.labels.boxAnchor = "ne"
    else:
        # Horizontal bars are drawn bottom-up: reverse so the first point is on top.
        labels, values = labels[::-1], values[::-1]
        bar = min(16, 420 / len(values))
        drawing, bars = Drawing(WIDTH, bar * len(values) + 30), HorizontalBarChart()
        bars.x, bars.y, bars.width, bars.height = 150, 20, WIDTH - 190, bar * len(values)
        bars.categoryAxis.categoryNames = [_shorten(label, 34) for label in labels]
        bars.barLabelFormat = _text
        bars.barLabels.fontName, bars.barLabels.fontSize = "Helvetica", 7
        bars.barLabels.boxAnchor, bars.barLabels.dx = "w", 3
    bars.data = [values]
    bars.bars[0].fillColor = BAR_COLOR
    bars.bars[0].strokeColor = None
    bars.valueAxis.valueMin = 0
    bars.valueAxis.labels.fontName = bars.categoryAxis.labels.fontName = "Helvetica"
    bars.valueAxis.labels.fontSize = bars.categoryAxis.labels.fontSize = 7
    drawing.add(bars)
    return [heading, drawing]


def _table(table: Table) -> list:
    story = [Paragraph(escape(table.title), STYLES["subheading"])]
    if not table.rows:
        story.append(Paragraph(escape(table.empty), STYLES["empty"]))
    else:
        columns = max(len(table.columns), *(len(row) for row in table.rows))
        # A column of numbers has its heading aligned right, over its figures.
        numeric = [
            all(_is_number(row[index]) for row in table.rows if index < len(row))
            for index in range(len(table.columns))
        ]
        header = [
            Paragraph(escape(str(name)), STYLES["header_number" if numeric[i] else "header"])
            for i, name in enumerate(table.columns)
        ]
        header += [""] * (columns - len(header))
        body = [[_cell(value) for value in row] + [""] * (columns - len(row)) for row in table.rows]
        pdf_table = PdfTable([header, *body], colWidths=[WIDTH / columns] * columns, repeatRows=1)
        pdf_table.setStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_BACKGROUND),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, GRID),
            ]
        )
        story.append(pdf_table)
    if table.note:
        story.append(Paragraph(escape(table.note), STYLES["note"]))
    return story


def _cell(value) -> Paragraph:
    """A table cell: wrapped text, numbers aligned right."""
    return Paragraph(escape(_text(value)), STYLES["number" if _is_number(value) else "cell"])


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    return str(value)


def _shorten(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"
