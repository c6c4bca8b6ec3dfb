"""Money: amounts, the deposit ledger, expense checks, invoice numbers and lines.

The service rules behind it: docs/service-rules.md rules 7, 8 and 10.

Money is Decimal with two places, rounded half up (the way a Russian bank rounds
kopecks); binary floating point never touches it. The deposit balance is the
sum of an append-only ledger: a correction is a new line, never an edit, so
the history explains every balance. Pure: no clock, no store, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

# parsers.tags owns the AMOUNT grammar of `#expense`/`#invoice`; reusing it keeps the CLI
# (`payment add`) and the tags agreeing. It is private there, so parse_amount is its public face.
from parsers.tags import _amount as _tag_amount

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DEFAULT_TOP_UP_STEP = Decimal("1000")
ACCEPTED_AMOUNTS = (
    "1500, 1 500,50, 1500.50, 1500 руб or ₽1500: more than zero, at most two decimal places"
)
# Sign of each ledger kind as stored: money in is positive, money out negative.
# A refund may go either way: money handed back to the client (negative) or an
# expense reversed onto the deposit (positive).
_SIGNS: dict[str, tuple[int, ...]] = {
    "payment": (1,),
    "expense": (-1,),
    "tariff": (-1,),
    "refund": (1, -1),
}
_RU_SYMBOLS = {"RUB": "₽"}

Kind = Literal["payment", "expense", "tariff", "refund"]


def money(value: Decimal | int | str) -> Decimal:
    """`value` as money: a Decimal with exactly two places, rounded half up."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        # A binary float cannot hold 0.10 exactly; refuse it rather than round it.
        raise TypeError(f"money must be Decimal, int or str, not {type(value).__name__}")
    try:
        number = Decimal(value)
        if not number.is_finite():
            raise InvalidOperation
        return number.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise ValueError(f"not an amount of money: {value!r}") from None


def parse_amount(text: str) -> Decimal:
    """An amount as staff write it in mail or on the command line, e.g. '1 500,50 руб'."""
    try:
        value, rest = _tag_amount(text.strip())
    except InvalidOperation:
        # More digits than Decimal's context holds: no real invoice is that large.
        raise ValueError(
            f"the amount {text!r} is too large. Accepted forms: {ACCEPTED_AMOUNTS}"
        ) from None
    except ValueError as error:
        raise ValueError(f"{error}. Accepted forms: {ACCEPTED_AMOUNTS}") from None
    if rest:
        raise ValueError(
            f"unexpected {rest!r} after the amount in {text!r}. Accepted forms: {ACCEPTED_AMOUNTS}"
        )
    return value


@dataclass(frozen=True)
class LedgerLine:
    """One append-only deposit ledger entry; `amount` carries the sign (see _SIGNS)."""

    kind: Kind
    amount: Decimal
    at: datetime
    note: str

    def __post_init__(self) -> None:
        if self.kind not in _SIGNS:
            raise ValueError(f"ledger kind must be one of {tuple(_SIGNS)}, not {self.kind!r}")
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise TypeError(f"a ledger amount must be a finite Decimal, not {self.amount!r}")
        if self.amount != self.amount.quantize(CENT):
            raise ValueError(f"a ledger amount has at most two decimal places, not {self.amount}")
        sign = 1 if self.amount > 0 else -1 if self.amount < 0 else 0
        if sign not in _SIGNS[self.kind]:
            want = " or ".join("positive" if s > 0 else "negative" for s in _SIGNS[self.kind])
            raise ValueError(f"a {self.kind} ledger amount must be {want}, not {self.amount}")
        if self.at.tzinfo is None:
            raise ValueError("a ledger line's time must be timezone-aware")


def balance(entries: Iterable[LedgerLine]) -> Decimal:
    """The deposit: the sum of the ledger (negative when the client owes money)."""
    return money(sum((entry.amount for entry in entries), ZERO))


@dataclass(frozen=True)
class ExpenseDecision:
    """Can the deposit pay an expense; if not, by how much it is short and what to invoice."""

    ok: bool
    short_by: Decimal
    top_up: Decimal


def expense_check(
    balance: Decimal, amount: Decimal, step: Decimal = DEFAULT_TOP_UP_STEP
) -> ExpenseDecision:
    """Check an expense against the deposit; the top-up is the shortfall rounded up to `step`.

    A round top-up (1000 by default) leaves room for the next small expense instead of
    invoicing the client again for a few roubles; `step` 0.01 invoices the exact shortfall.
    """
    balance, amount, step = money(balance), money(amount), money(step)
    if amount <= 0:
        raise ValueError(f"an expense must be more than zero, not {amount}")
    if step <= 0:
        raise ValueError(f"the top-up step must be more than zero, not {step}")
    if amount <= balance:
        return ExpenseDecision(True, ZERO, ZERO)
    short_by = amount - balance
    steps = (short_by / step).to_integral_value(rounding=ROUND_CEILING)
    return ExpenseDecision(False, short_by, money(steps * step))


def invoice_number(year: int, seq: int) -> str:
    """'2026-000123': the year and a gapless per-year sequence (wider past 999999, never cut)."""
    if not 1000 <= year <= 9999:
        raise ValueError(f"the invoice year must have four digits, not {year}")
    if seq < 1:
        raise ValueError(f"invoice sequence numbers start at 1, not {seq}")
    return f"{year:04d}-{seq:06d}"


@dataclass(frozen=True)
class InvoiceLine:
    """One row of an invoice: description, quantity, unit price and the row total."""

    description: str
    qty: int
    unit_price: Decimal
    total: Decimal


@dataclass(frozen=True)
class InvoiceTotals:
    """The rows of an invoice and the amount to pay (the sum of the rows, never below zero)."""

    lines: tuple[InvoiceLine, ...]
    total: Decimal


_WORDS = {
    "ru": {
        "tariff": "Тариф «{name}»",
        "period": ", период {start}–{end}",
        "deposit": "Оплата с депозита",
        "topup": "Пополнение депозита",
    },
    "en": {
        "tariff": "Tariff “{name}”",
        "period": ", period {start} – {end}",
        "deposit": "Paid from the deposit",
        "topup": "Deposit top-up",
    },
}


def invoice_lines(
    kind: Literal["renewal", "topup"],
    amount: Decimal,
    lang: str,
    *,
    tariff_name: str = "",
    period: tuple[date, date] | None = None,
    deposit: Decimal = ZERO,
    deposit_pays_tariff: bool = False,
    note: str = "",
) -> InvoiceTotals:
    """Rows and total of a tariff renewal invoice (`amount` = tariff price) or a top-up.

    `period` is the billing period, start inclusive and end exclusive, as quota.period_of
    returns it. With `deposit_pays_tariff` a positive deposit is taken off the renewal
    as a negative row, at most down to zero; a negative deposit (a debt) is not added:
    debts are invoiced on their own. `note` is appended to a top-up row's description.
    """
    if lang not in _WORDS:
        raise ValueError(f"no invoice wording for language {lang!r}")
    words, amount, deposit = _WORDS[lang], money(amount), money(deposit)
    if kind == "topup":
        if amount <= 0:
            raise ValueError(f"a top-up must be more than zero, not {amount}")
        text = words["topup"] + (f": {note.strip()}" if note.strip() else "")
        return InvoiceTotals((InvoiceLine(text, 1, amount, amount),), amount)
    if kind != "renewal":
        raise ValueError(f"invoice kind must be 'renewal' or 'topup', not {kind!r}")
    if amount < 0:
        raise ValueError(f"a tariff price must not be negative, not {amount}")
    text = words["tariff"].format(name=tariff_name.strip())
    if period is not None:
        # Periods end exclusive; an invoice names the last day it covers.
        start, end = period[0], period[1] - timedelta(days=1)
        text += words["period"].format(start=_day(start, lang), end=_day(end, lang))
    lines = [InvoiceLine(text, 1, amount, amount)]
    if deposit_pays_tariff and deposit > 0 and amount > 0:
        taken = min(deposit, amount)
        lines.append(InvoiceLine(words["deposit"], 1, -taken, -taken))
    return InvoiceTotals(tuple(lines), max(sum((line.total for line in lines), ZERO), ZERO))


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """'1 500,00 ₽' (ru) or 'RUB 1,500.00' (en); the grouping spaces are plain spaces."""
    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"currency must be a three-letter code such as RUB, not {currency!r}")
    # Decimal's own formatting is exact; rounding already happened in money().
    grouped = f"{money(amount):,.2f}"
    if lang == "en":
        return f"{code} {grouped}"
    if lang == "ru":
        number = grouped.replace(",", " ").replace(".", ",")
        return f"{number} {_RU_SYMBOLS.get(code, code)}"
    raise ValueError(f"no money format for language {lang!r}")


def _day(day: date, lang: str) -> str:
    return day.strftime("%d.%m.%Y") if lang == "ru" else day.isoformat()
