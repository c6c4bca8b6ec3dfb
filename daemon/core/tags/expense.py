"""#expense AMOUNT what: charge the deposit; if it is short, a top-up invoice and the ticket waits."""

from __future__ import annotations

from daemon.core.billing import expense_check, invoice_lines
from daemon.core.model import InvoiceSpec, RouteView
from daemon.core.resume import PENDING, pending_detail
from daemon.core.tags._base import LEADS, Plan, Tag
from parsers.tags import ArgKind, Command


def expense(plan: Plan, cmd: Command, view: RouteView) -> None:
    billing = plan.billing
    assert cmd.amount is not None and billing is not None
    check = expense_check(plan.deposit_left, cmd.amount, plan.policy.top_up_step)
    what = cmd.text or "expense"
    if check.ok:
        plan.ledger.append(("expense", -cmd.amount, f"{plan.ticket.key}: {what}"))
        plan.applied.append(plan.say(
            f"#expense: списано {cmd.amount} {billing.currency} за «{what}»; "
            f"на депозите осталось {plan.deposit_left} {billing.currency}",
            f"#expense: {cmd.amount} {billing.currency} charged for \"{what}\"; "
            f"deposit left {plan.deposit_left} {billing.currency}"))
        return
    # Not charged: the client is asked to top up first and the work waits (docs/service-rules.md rule 7).
    lines = invoice_lines("topup", check.top_up, plan.thread.client.language, note=what)
    plan.add_invoice(InvoiceSpec("topup", lines.total, tuple(
        (ln.description, ln.qty, ln.unit_price, ln.total) for ln in lines.lines), currency=billing.currency), what)
    plan.changes["status"] = "payment"
    # What a payment will charge and which status the ticket returns to (core/resume.py).
    plan.events.append((PENDING, pending_detail(cmd.amount, what, plan.ticket.status)))
    plan.applied.append(plan.say(
        f"#expense: на депозите ({plan.deposit_left} {billing.currency}) не хватает {check.short_by}; "
        f"ничего не списано; клиенту ушёл счёт на пополнение на {check.top_up}, задача ждёт оплаты",
        f"#expense: the deposit ({plan.deposit_left} {billing.currency}) is short by "
        f"{check.short_by}; nothing charged; a top-up invoice for {check.top_up} was sent "
        "to the client and the ticket waits for payment"))


TAG = Tag(
    name="expense", arg=ArgKind.AMOUNT_AND_TEXT, usage="AMOUNT what", order=110, roles=LEADS, rule=expense,
    help_ru="списать расход с депозита; если не хватает, клиенту уходит счёт",
    help_en="charge the deposit; if it is short, the client gets a top-up invoice",
)
