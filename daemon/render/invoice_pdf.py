"""Render an invoice as an A4 PDF that shows Cyrillic correctly (docs/service-rules.md rule 8).

The PDF core fonts have no Cyrillic, so the text is set in DejaVu Sans, a
TrueType font that fpdf2 embeds as a subset with a Unicode map: the client's
name prints, and copy/paste and pdftotext read it back. The font is found on
disk (Debian package fonts-dejavu-core); everything else is pure layout. The
output is deterministic for the same InvoiceDoc (the creation date is the
issue date), so rendering the same invoice twice gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace

from daemon.core.billing import InvoiceLine, format_money, money

FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian, Ubuntu
    Path("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf"),  # Fedora
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),  # older Fedora, CentOS
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),  # Arch
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
)
FONT_PACKAGE = "fonts-dejavu-core"
_FAMILY = "DejaVu"


class FontMissingError(RuntimeError):
    """No DejaVu Sans on this machine; the message names the package to install."""


@dataclass(frozen=True)
class InvoiceDoc:
    """Everything printed on one invoice. `total` must equal the sum of the line totals."""

    number: str
    issued: date
    due: date
    service_name: str
    client_name: str
    client_email: str
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    currency: str
    language: str
    note: str

    def __post_init__(self) -> None:
        if self.language not in _LABELS:
            raise ValueError(f"no invoice wording for language {self.language!r}")
        if not self.lines:
            raise ValueError(f"invoice {self.number} has no lines")
        # A printed total that disagrees with its rows is worse than no invoice.
        rows = money(sum((line.total for line in self.lines), Decimal(0)))
        if money(self.total) != max(rows, Decimal(0)):
            raise ValueError(
                f"invoice {self.number}: total {self.total} but the lines add up to {rows}"
            )
        if self.due < self.issued:
            raise ValueError(f"invoice {self.number} is due before it is issued")


_LABELS = {
    "ru": {
        "title": "Счёт № {number}",
        "issued": "Дата: {date}",
        "due": "Оплатить до: {date}",
        "client": "Клиент",
        "head": ("Описание", "Кол-во", "Цена", "Сумма"),
        "total": "Итого к оплате",
        "currency": "Валюта: {currency}",
    },
    "en": {
        "title": "Invoice No. {number}",
        "issued": "Date: {date}",
        "due": "Payable by: {date}",
        "client": "Client",
        "head": ("Description", "Qty", "Unit price", "Amount"),
        "total": "Total due",
        "currency": "Currency: {currency}",
    },
}
# Column widths in mm; together they fill the 180 mm between the 15 mm margins.
_WIDTHS = (90, 20, 35, 35)


def find_font(candidates: Sequence[Path] = FONT_CANDIDATES) -> Path:
    """The first DejaVu Sans file that exists, or FontMissingError naming the package."""
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(str(path) for path in candidates)
    raise FontMissingError(
        f"DejaVuSans.ttf not found (looked in {looked}); invoices need it to print Cyrillic. "
        f"Install it with: apt-get install {FONT_PACKAGE}"
    )


def render_invoice_pdf(doc: InvoiceDoc, font_path: Path | None = None) -> bytes:
    """The invoice as PDF bytes: A4, service, number and dates, client, rows, total, note."""
    regular = font_path or find_font()
    labels = _LABELS[doc.language]
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_creation_date(datetime(doc.issued.year, doc.issued.month, doc.issued.day, tzinfo=UTC))
    pdf.set_title(labels["title"].format(number=doc.number))
    pdf.set_author(doc.service_name)
    pdf.add_font(_FAMILY, "", regular)
    # fonts-dejavu-core ships the bold face beside the regular one; without it,
    # headings stay regular rather than failing the invoice.
    bold_path = regular.with_name("DejaVuSans-Bold.ttf")
    bold = "B" if bold_path.is_file() else ""
    if bold:
        pdf.add_font(_FAMILY, "B", bold_path)
    pdf.add_page()

    def line(text: str, size: float = 10, style: str = "", gap: float = 6) -> None:
        pdf.set_font(_FAMILY, style, size)
        pdf.multi_cell(0, gap, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(doc.service_name, 12, bold)
    pdf.ln(4)
    line(labels["title"].format(number=doc.number), 16, bold, 9)
    line(labels["issued"].format(date=_day(doc.issued, doc.language)))
    line(labels["due"].format(date=_day(doc.due, doc.language)))
    pdf.ln(4)
    line(labels["client"], 10, bold)
    line(doc.client_name)
    line(doc.client_email)
    pdf.ln(6)
    _table(pdf, doc, labels["head"], bold)
    pdf.ln(4)
    total = format_money(doc.total, doc.currency, doc.language)
    pdf.set_font(_FAMILY, bold, 12)
    # One right-aligned cell: a long amount pushes the label left instead of overprinting it.
    pdf.cell(
        0, 8, f"{labels['total']}:  {total}", align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    line(labels["currency"].format(currency=doc.currency.upper()), 9)
    if doc.note.strip():
        pdf.ln(6)
        line(doc.note.strip(), 10)
    return bytes(pdf.output())


def _table(pdf: FPDF, doc: InvoiceDoc, head: tuple[str, ...], bold: str) -> None:
    pdf.set_font(_FAMILY, "", 10)
    align = ("LEFT", "CENTER", "RIGHT", "RIGHT")
    with pdf.table(
        col_widths=_WIDTHS,
        width=sum(_WIDTHS),
        text_align=align,
        headings_style=FontFace(emphasis=bold or None),
        line_height=6,
    ) as table:
        table.row(head)
        for item in doc.lines:
            table.row(
                (
                    item.description,
                    str(item.qty),
                    format_money(item.unit_price, doc.currency, doc.language),
                    format_money(item.total, doc.currency, doc.language),
                )
            )


def _day(day: date, lang: str) -> str:
    return day.strftime("%d.%m.%Y") if lang == "ru" else day.isoformat()
