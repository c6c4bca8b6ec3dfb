"""daemon.core.billing: amounts, the ledger balance, expense checks, invoice numbers and lines."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from daemon.core.billing import (
    ExpenseDecision,
    InvoiceLine,
    LedgerLine,
    balance,
    expense_check,
    format_money,
    invoice_lines,
    invoice_number,
    money,
    parse_amount,
)

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
D = Decimal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1500", "1500.00"),
        ("1 500,50", "1500.50"),
        ("1500.50", "1500.50"),
        ("1500 руб", "1500.00"),
        ("₽1500", "1500.00"),
        ("1500,5", "1500.50"),
        ("1\u00a0500 ₽", "1500.00"),  # HTML mail groups thousands with no-break spaces
        ("  0.01 ", "0.01"),
    ],
)
def test_parse_amount_accepts(text, value):
    parsed = parse_amount(text)
    assert parsed == D(value)
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("-5", "more than zero"),
        ("\u22125", "more than zero"),  # the Unicode minus, as mail programs type it
        ("0", "more than zero"),
        ("0,00", "more than zero"),
        ("1.005", "two decimal places"),
        ("abc", "cannot read"),
        ("", "cannot read"),
        ("1500 abc", "unexpected 'abc'"),
        ("1,500.00", "cannot read"),
        ("1e3", "cannot read"),
        ("NaN", "cannot read"),
        ("9" * 40, "too large"),
    ],
)
def test_parse_amount_rejects_with_the_accepted_forms(text, why):
    with pytest.raises(ValueError) as caught:
        parse_amount(text)
    assert why in str(caught.value)
    assert "1 500,50" in str(caught.value) and "₽1500" in str(caught.value)


def test_money_rounds_half_up_and_refuses_binary_floats():
    assert money(D("0.005")) == D("0.01")
    assert money(D("2.675")) == D("2.68")
    assert money(D("-0.005")) == D("-0.01")
    assert money(12) == D("12.00") and money("3.1") == D("3.10")
    with pytest.raises(TypeError):
        money(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        money("Infinity")


def line(kind: str, amount: str, note: str = "") -> LedgerLine:
    return LedgerLine(kind, D(amount), AT, note)  # type: ignore[arg-type]


def test_balance_is_the_sum_of_the_ledger():
    ledger = [
        line("payment", "10000.00", "payment 1"),
        line("tariff", "-4900.00", "December"),
        line("expense", "-1234.56", "OA-1042 tickets"),
        line("refund", "234.56", "OA-1042 one ticket returned"),
        line("refund", "-100.00", "handed back"),
    ]
    assert balance(ledger) == D("4000.00")
    assert balance([]) == D("0.00")
    assert balance(iter(ledger[:2])) == D("5100.00")  # any iterable, read once


def test_balance_may_go_negative():
    assert balance([line("payment", "100.00"), line("expense", "-150.00")]) == D("-50.00")


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        ("payment", "-100.00"),
        ("expense", "100.00"),
        ("tariff", "4900.00"),
        ("refund", "0.00"),
        ("payment", "0.00"),
    ],
)
def test_ledger_line_sign_follows_the_kind(kind, amount):
    with pytest.raises(ValueError, match="must be"):
        line(kind, amount)


def test_ledger_line_rejects_bad_values():
    with pytest.raises(ValueError, match="kind"):
        line("gift", "1.00")
    with pytest.raises(ValueError, match="two decimal"):
        line("payment", "1.001")
    with pytest.raises(TypeError):
        LedgerLine("payment", 100, AT, "")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        LedgerLine("payment", D("1.00"), datetime(2026, 11, 27), "")
    with pytest.raises(AttributeError):
        line("payment", "1.00").amount = D("2.00")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("bal", "amount", "step", "expected"),
    [
        ("5000", "1500", None, (True, "0.00", "0.00")),
        ("1500", "1500", None, (True, "0.00", "0.00")),  # exactly enough
        ("1499.99", "1500", None, (False, "0.01", "1000.00")),
        ("300", "1500", None, (False, "1200.00", "2000.00")),
        ("0", "1000", None, (False, "1000.00", "1000.00")),  # a whole step, not two
        ("-250", "500", None, (False, "750.00", "1000.00")),  # a debt is part of the gap
        ("300", "1500", "500", (False, "1200.00", "1500.00")),
        ("300", "1500.55", "0.01", (False, "1200.55", "1200.55")),
        ("300", "1500.55", "1", (False, "1200.55", "1201.00")),
    ],
)
def test_expense_check(bal, amount, step, expected):
    args = (D(bal), D(amount)) if step is None else (D(bal), D(amount), D(step))
    decision = expense_check(*args)
    ok, short_by, top_up = expected
    assert decision == ExpenseDecision(ok, D(short_by), D(top_up))


def test_expense_check_rejects_nonsense():
    with pytest.raises(ValueError, match="more than zero"):
        expense_check(D("100"), D("0"))
    with pytest.raises(ValueError, match="step"):
        expense_check(D("100"), D("500"), D("0"))


def test_invoice_number():
    assert invoice_number(2026, 123) == "2026-000123"
    assert invoice_number(2026, 1) == "2026-000001"
    assert invoice_number(2026, 999999) == "2026-999999"
    assert invoice_number(2026, 1234567) == "2026-1234567"  # widened, never cut
    for year, seq in ((2026, 0), (2026, -1), (26, 1)):
        with pytest.raises(ValueError):
            invoice_number(year, seq)


DECEMBER = (date(2026, 12, 1), date(2027, 1, 1))


def test_renewal_invoice_without_deposit_paying():
    totals = invoice_lines(
        "renewal", D("4900"), "ru", tariff_name="Оптимум", period=DECEMBER, deposit=D("3000")
    )
    assert totals.lines == (
        InvoiceLine("Тариф «Оптимум», период 01.12.2026–31.12.2026", 1, D("4900.00"), D("4900.00")),
    )
    assert totals.total == D("4900.00")


def test_renewal_invoice_with_deposit_paying_part():
    totals = invoice_lines(
        "renewal",
        D("4900"),
        "en",
        tariff_name="Optimum",
        period=DECEMBER,
        deposit=D("1200.50"),
        deposit_pays_tariff=True,
    )
    assert [(row.description, row.total) for row in totals.lines] == [
        ("Tariff “Optimum”, period 2026-12-01 – 2026-12-31", D("4900.00")),
        ("Paid from the deposit", D("-1200.50")),
    ]
    assert totals.total == D("3699.50")


def test_renewal_invoice_never_goes_below_zero():
    totals = invoice_lines(
        "renewal",
        D("4900"),
        "ru",
        tariff_name="Оптимум",
        deposit=D("8000"),
        deposit_pays_tariff=True,
    )
    # Only what the tariff costs is taken; the rest of the deposit stays.
    assert totals.lines[1].total == D("-4900.00")
    assert totals.total == D("0.00")


def test_a_debt_is_not_added_to_the_renewal():
    totals = invoice_lines(
        "renewal",
        D("4900"),
        "ru",
        tariff_name="Оптимум",
        deposit=D("-500"),
        deposit_pays_tariff=True,
    )
    assert len(totals.lines) == 1 and totals.total == D("4900.00")


def test_topup_invoice():
    totals = invoice_lines("topup", D("2000"), "ru", note="OA-1042: билеты")
    assert totals.lines == (
        InvoiceLine("Пополнение депозита: OA-1042: билеты", 1, D("2000.00"), D("2000.00")),
    )
    assert totals.total == D("2000.00")
    assert invoice_lines("topup", D("2000"), "en").lines[0].description == "Deposit top-up"


def test_invoice_lines_rejects_nonsense():
    with pytest.raises(ValueError, match="more than zero"):
        invoice_lines("topup", D("0"), "ru")
    with pytest.raises(ValueError, match="kind"):
        invoice_lines("gift", D("1"), "ru")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="language"):
        invoice_lines("topup", D("1"), "de")


@pytest.mark.parametrize(
    ("amount", "currency", "lang", "text"),
    [
        ("1500", "RUB", "ru", "1 500,00 ₽"),
        ("1500", "RUB", "en", "RUB 1,500.00"),
        ("4900", "rub", "ru", "4 900,00 ₽"),
        ("1234567.891", "RUB", "ru", "1 234 567,89 ₽"),
        ("0.005", "RUB", "en", "RUB 0.01"),  # half up, not banker's rounding
        ("0.125", "RUB", "ru", "0,13 ₽"),
        ("999", "RUB", "ru", "999,00 ₽"),
        ("-1200.5", "RUB", "ru", "-1 200,50 ₽"),
        ("-1200.5", "RUB", "en", "RUB -1,200.50"),
        ("1500", "EUR", "ru", "1 500,00 EUR"),
        ("1500", "EUR", "en", "EUR 1,500.00"),
    ],
)
def test_format_money(amount, currency, lang, text):
    assert format_money(D(amount), currency, lang) == text


def test_format_money_rejects_unknown_language_and_currency():
    with pytest.raises(ValueError, match="language"):
        format_money(D("1"), "RUB", "de")
    with pytest.raises(ValueError, match="currency"):
        format_money(D("1"), "рубли", "ru")


MONEY_SOURCES = [ROOT / "daemon/core/billing.py", ROOT / "daemon/core/quota.py"]


@pytest.mark.parametrize("path", MONEY_SOURCES, ids=lambda p: p.name)
def test_no_float_in_money_code(path):
    source = path.read_text(encoding="utf-8")
    assert "float(" not in source, f"{path.name} calls float(); money must stay Decimal"
    # Float literals (1.5) are just as inexact as float() and hide better.
    floats = [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, float)
    ]
    assert not floats, f"{path.name} has float literals on lines {floats}"
