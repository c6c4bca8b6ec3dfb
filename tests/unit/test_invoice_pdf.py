"""daemon.render.invoice_pdf: an invoice PDF that pdftotext reads back with the Cyrillic intact.

Needs fpdf2 (pip), fonts-dejavu-core and poppler-utils (Debian). Outside CI a
missing tool skips the tests that need it, with the package to install; under
CI=true it fails instead, so CI can never go green without checking the PDF.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.core.billing import invoice_lines
from daemon.render.invoice_pdf import FontMissingError, InvoiceDoc, find_font, render_invoice_pdf

IN_CI = os.environ.get("CI", "").lower() == "true"


def need(found: object, what: str) -> None:
    """Skip (fail under CI=true) when a system tool the test needs is missing."""
    if found:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing and CI=true; install it in the CI image")
    pytest.skip(f"{what} is missing; install it to run this test")


def font_or_none() -> Path | None:
    try:
        return find_font()
    except FontMissingError:
        return None


def ivan_invoice(**changes: object) -> InvoiceDoc:
    totals = invoice_lines(
        "renewal",
        Decimal("6100"),
        "ru",
        tariff_name="Оптимум",
        period=(date(2026, 12, 1), date(2027, 1, 1)),
        deposit=Decimal("1200"),
        deposit_pays_tariff=True,
    )
    fields: dict[str, object] = {
        "number": "2026-000123",
        "issued": date(2026, 11, 27),
        "due": date(2026, 12, 1),
        "service_name": "OneAssist",
        "client_name": "Иван Петров",
        "client_email": "ivan@example.ru",
        "lines": totals.lines,
        "total": totals.total,
        "currency": "RUB",
        "language": "ru",
        "note": "Назначение платежа: оплата по счёту № 2026-000123.",
    }
    fields.update(changes)
    return InvoiceDoc(**fields)  # type: ignore[arg-type]


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        check=True,
        timeout=30,
    )
    return done.stdout.decode("utf-8")


def test_pdftotext_reads_the_cyrillic_name_number_and_total(tmp_path):
    need(font_or_none(), "DejaVuSans.ttf (Debian package fonts-dejavu-core)")
    need(shutil.which("pdftotext"), "pdftotext (Debian package poppler-utils)")
    doc = ivan_invoice()
    assert doc.total == Decimal("4900.00")
    pdf = render_invoice_pdf(doc)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    assert "Иван Петров" in text
    assert "2026-000123" in text
    assert "4 900,00 ₽" in text
    assert "Счёт" in text and "Оптимум" in text and "Оплата с депозита" in text


def test_the_page_is_a4(tmp_path):
    need(font_or_none(), "DejaVuSans.ttf (Debian package fonts-dejavu-core)")
    pdf = render_invoice_pdf(ivan_invoice())
    # A4 in PDF points: 595.28 x 841.89.
    assert b"/MediaBox [0 0 595.28 841.89]" in pdf


def test_english_invoice(tmp_path):
    need(font_or_none(), "DejaVuSans.ttf (Debian package fonts-dejavu-core)")
    need(shutil.which("pdftotext"), "pdftotext (Debian package poppler-utils)")
    totals = invoice_lines("topup", Decimal("2000"), "en", note="OA-1042 tickets")
    doc = ivan_invoice(
        client_name="John Smith", lines=totals.lines, total=totals.total, language="en", note=""
    )
    text = pdf_text(render_invoice_pdf(doc), tmp_path)
    assert "Invoice No. 2026-000123" in text
    assert "John Smith" in text and "RUB 2,000.00" in text


def test_rendering_is_deterministic():
    need(font_or_none(), "DejaVuSans.ttf (Debian package fonts-dejavu-core)")
    # The same invoice re-sent after a crash must be the same document.
    assert render_invoice_pdf(ivan_invoice()) == render_invoice_pdf(ivan_invoice())


def test_missing_font_names_the_debian_package(tmp_path):
    with pytest.raises(FontMissingError) as caught:
        find_font([tmp_path / "nope" / "DejaVuSans.ttf"])
    assert "fonts-dejavu-core" in str(caught.value)
    assert str(tmp_path / "nope") in str(caught.value)


def test_find_font_takes_the_first_existing_candidate(tmp_path):
    there = tmp_path / "DejaVuSans.ttf"
    there.write_bytes(b"")
    assert find_font([tmp_path / "missing.ttf", there]) == there


def test_a_total_that_disagrees_with_the_lines_is_refused():
    with pytest.raises(ValueError, match="add up"):
        ivan_invoice(total=Decimal("5000.00"))
    with pytest.raises(ValueError, match="no lines"):
        ivan_invoice(lines=(), total=Decimal("0"))
    with pytest.raises(ValueError, match="due before"):
        ivan_invoice(due=date(2026, 11, 1))
    with pytest.raises(ValueError, match="language"):
        ivan_invoice(language="de")
