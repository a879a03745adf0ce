"""Files: tables to CSV and XLSX (openpyxl), figures to a PDF with charts (reportlab: its charts, and its CJK CID
font ``STSong-Light`` for zh-CN text, which ships with reportlab and needs no font file), and CSV or XLSX back to
rows for imports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook, load_workbook

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"
CJK_FONT = "STSong-Light"
MAX_IMPORT_BYTES = 700_000  # base64 of it fits the API's 1 MB request body
MAX_IMPORT_ROWS = 10_000


@dataclass
class Sheet:
    """One table: a title, a header row and rows of plain values (str, int, float, None)."""

    name: str
    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _safe_text(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula (=, +, -, @ first) is written as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(sheets: Sequence[Sheet]) -> bytes:
    """The sheets one after the other (a blank line and the sheet's name between them), UTF-8 with a BOM so a
    spreadsheet opens the Chinese text right."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for i, sheet in enumerate(sheets):
        if len(sheets) > 1:
            if i:
                writer.writerow([])
            writer.writerow([f"# {sheet.name}"])
        writer.writerow(sheet.header)
        for row in sheet.rows:
            writer.writerow([_safe_text(_cell(v)) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    book = Workbook()
    first = True
    for sheet in sheets:
        ws = book.active if first else book.create_sheet()
        assert ws is not None
        first = False
        ws.title = sheet.name[:31]
        ws.append(sheet.header)
        for row in sheet.rows:
            ws.append([_safe_text(v) for v in row])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


class UnreadableFile(Exception):
    """The uploaded file is not a CSV or XLSX this reads (the message says why, never the content)."""


def read_rows(data: bytes, fmt: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of an uploaded table (the first sheet of a workbook); every value as text."""
    if len(data) > MAX_IMPORT_BYTES:
        raise UnreadableFile(f"the file is larger than {MAX_IMPORT_BYTES // 1000} KB")
    table: list[list[str]]
    if fmt == "CSV":
        try:
            text_ = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnreadableFile("a CSV file must be UTF-8") from None
        table = [row for row in csv.reader(io.StringIO(text_))]
    elif fmt == "XLSX":
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:
            raise UnreadableFile("not an XLSX workbook") from None
        ws = book.worksheets[0]
        table = [["" if v is None else str(v).strip() for v in row]
                 for row in ws.iter_rows(values_only=True, max_row=MAX_IMPORT_ROWS + 2)]
        book.close()
    else:
        raise UnreadableFile(f"unknown format {fmt}")
    table = [row for row in table if any(c.strip() for c in row)]
    if not table:
        raise UnreadableFile("the file has no header row")
    if len(table) - 1 > MAX_IMPORT_ROWS:
        raise UnreadableFile(f"more than {MAX_IMPORT_ROWS} rows")
    header = [h.strip() for h in table[0]]
    return header, [[c.strip() for c in row] + [""] * (len(header) - len(row)) for row in table[1:]]


# ------------------------------------------------------------------ PDF


@dataclass
class Chart:
    """A bar chart: a title, category labels and one series of values."""

    title: str
    labels: list[str]
    values: list[float]
    kind: str = "bar"  # bar or line


def _register_fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))


def _chart_drawing(chart: Chart) -> Any:
    from reportlab.graphics.charts.barcharts import VerticalBarChart
    from reportlab.graphics.charts.linecharts import HorizontalLineChart
    from reportlab.graphics.shapes import Drawing, String

    drawing = Drawing(480, 220)
    drawing.add(String(0, 205, chart.title, fontName=CJK_FONT, fontSize=10))
    plot: Any = HorizontalLineChart() if chart.kind == "line" else VerticalBarChart()
    plot.x, plot.y, plot.width, plot.height = 40, 45, 420, 145
    plot.data = [tuple(chart.values) or (0,)]
    plot.categoryAxis.categoryNames = list(chart.labels) or [""]
    plot.categoryAxis.labels.fontName = CJK_FONT
    plot.categoryAxis.labels.fontSize = 7
    plot.categoryAxis.labels.angle = 30 if len(chart.labels) > 6 else 0
    plot.categoryAxis.labels.boxAnchor = "ne" if len(chart.labels) > 6 else "n"
    plot.valueAxis.valueMin = 0
    plot.valueAxis.labels.fontSize = 7
    top = max(chart.values or [0])
    plot.valueAxis.valueMax = max(1.0, top * 1.15)
    plot.valueAxis.valueStep = max(1.0, round(plot.valueAxis.valueMax / 5))
    drawing.add(plot)
    return drawing


def to_pdf(title: str, lines: Iterable[str], sheets: Sequence[Sheet], charts: Sequence[Chart]) -> bytes:
    """A PDF: the title, paragraphs, the charts, then every table."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_fonts()
    heading = ParagraphStyle("h", fontName=CJK_FONT, fontSize=15, leading=20, spaceAfter=8)
    sub = ParagraphStyle("s", fontName=CJK_FONT, fontSize=11, leading=15, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("b", fontName=CJK_FONT, fontSize=9, leading=13, wordWrap="CJK")
    story: list[Any] = [Paragraph(_escape(title), heading)]
    story += [Paragraph(_escape(line), body) for line in lines]
    for chart in charts:
        story += [Spacer(1, 8), _chart_drawing(chart)]
    for sheet in sheets:
        story.append(Paragraph(_escape(sheet.name), sub))
        data = [sheet.header, *[[str(_cell(v)) for v in row] for row in sheet.rows]]
        table = Table(data, repeatRows=1)
        table.setStyle(TableStyle([
            ("FONTNAME", (0, 0), (-1, -1), CJK_FONT), ("FONTSIZE", (0, 0), (-1, -1), 8),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ]))
        story.append(table)
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title=title, author="complaintdesk",
                      invariant=1).build(story)
    return buf.getvalue()


def _escape(text_: str) -> str:
    return text_.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
