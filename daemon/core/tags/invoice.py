"""#invoice [AMOUNT]: email an invoice: a top-up for AMOUNT, else the next period's renewal."""

from __future__ import annotations

from daemon.core.billing import invoice_lines
from daemon.core.model import InvoiceSpec, RouteView
from daemon.core.tags._base import LEADS, Plan, Tag
from parsers.tags import ArgKind, Command


def invoice(plan: Plan, cmd: Command, view: RouteView) -> None:
    billing = plan.billing
    assert billing is not None
    language = plan.thread.client.language
    if cmd.amount is not None:
        lines = invoice_lines("topup", cmd.amount, language, note=cmd.text)
        spec = InvoiceSpec("topup", lines.total, tuple((ln.description, ln.qty, ln.unit_price, ln.total)
                                                        for ln in lines.lines), currency=billing.currency)
    else:
        start, end = billing.next_period
        lines = invoice_lines("renewal", billing.tariff_price, language, tariff_name=billing.tariff_name,
                              period=(start.date(), end.date()), deposit=billing.deposit,
                              deposit_pays_tariff=billing.deposit_pays_tariff)
        spec = InvoiceSpec("renewal", lines.total, tuple((ln.description, ln.qty, ln.unit_price, ln.total)
                                                          for ln in lines.lines), period=(start, end),
                           currency=billing.currency)
    plan.add_invoice(spec, cmd.text)
    kind_ru = {"topup": "на пополнение", "renewal": "за следующий период"}.get(spec.kind, spec.kind)
    plan.applied.append(plan.say(f"#invoice: клиенту ушёл счёт {kind_ru} на {spec.amount} {billing.currency}",
                                 f"#invoice: a {spec.kind} invoice for {spec.amount} {billing.currency} was "
                                 "sent to the client"))


TAG = Tag(
    name="invoice", arg=ArgKind.OPTIONAL_AMOUNT, usage="[AMOUNT]", order=120, roles=LEADS, rule=invoice,
    help_ru="выставить счёт (на AMOUNT, если указана)",
    help_en="email an invoice (for AMOUNT if given)",
)
