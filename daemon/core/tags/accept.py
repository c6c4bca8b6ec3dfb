"""#accept [next|force] [WHEN]: into work, counted in the quota; the client is told the due time."""

from __future__ import annotations

from datetime import timedelta

from daemon.core import notice_kinds as kinds
from daemon.core.model import RouteView
from daemon.core.quota import may_accept
from daemon.core.tags._base import ALL, Plan, Tag
from parsers.tags import ArgKind, Command


def accept(plan: Plan, cmd: Command, view: RouteView) -> None:
    if plan.ticket.status == "accepted":
        plan.refused.append(plan.say("#accept: задача уже в работе (новый срок ставит #due)",
                                     "#accept: the ticket is already in work (use #due to move its due time)"))
        return
    start = plan.now
    billing = plan.billing
    if billing is not None and not billing.ticket_counted:
        if cmd.arg == "next" and billing.next_period == billing.this_period:
            plan.refused.append(plan.say(
                "#accept next: у тарифа клиента нет периодов (разовая задача); примите её сейчас "
                "или предложите тариф с квотой на период",
                "#accept next: the client's tariff has no periods (a one-off task); "
                "accept it now, or offer a tariff with a quota per period"))
            return
        verdict = may_accept(billing.quota, billing.used_this, cmd.arg, plan.sender.role,
                             used_next=billing.used_next)
        if not verdict.ok:
            plan.refused.append(f"#accept: {plan.say(verdict.reason_ru, verdict.reason)}")
            return
        plan.quota_count = verdict.counts_in
        plan.quota_forced = cmd.arg == "force" and billing.quota is not None \
            and billing.used_this >= billing.quota
        period = billing.next_period if verdict.counts_in == "next" else billing.this_period
        plan.quota_period_start = period[0]
        if verdict.counts_in == "next":
            start = max(start, period[0])
    due = cmd.when or start + timedelta(hours=plan.policy.default_due_hours)
    plan.changes.update(status="accepted", due_at=due)
    plan.client_tags["accept"] = cmd
    plan.applied.append(plan.say(f"#accept: в работе, срок {plan.time(due)}",
                                 f"#accept: in work, due {plan.time(due)}"))


TAG = Tag(
    name="accept", arg=ArgKind.OPTIONAL_WHEN, usage="[next|force] [WHEN]", order=10,
    options=frozenset({"next", "force"}), roles=ALL, rule=accept,
    help_ru="в работу, списывается из лимита, клиенту уходит срок; next/force: см. ниже",
    help_en="into work, counts in the quota, client told the due time; next/force: see below",
    legend_ru="#accept next: на следующий период лимита; #accept force: сверх лимита.",
    legend_en="#accept next: for the next quota period; #accept force: even past the quota.",
    client_notice=kinds.ACCEPTED, strength=50, answers_client=True,
)
