"""#assign WHO: an assistant (or manager) does the work; client mail still goes in the manager's name."""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.model import Notice, RouteView
from daemon.core.tags._base import LEADS, Plan, Tag
from parsers.tags import ArgKind, Command


def assign(plan: Plan, cmd: Command, view: RouteView) -> None:
    person = plan.policy.person(cmd.who or "")
    if person is None or person.role not in ("assistant", "manager"):
        names = ", ".join(m.email for m in plan.policy.staff if m.role == "assistant")
        plan.refused.append(plan.say(
            f"#assign {cmd.who}: нет такого ассистента в [[staff]]; ассистенты: {names or 'не заданы'}",
            f"#assign {cmd.who}: not an assistant in [[staff]]; assistants: {names or 'none configured'}"))
        return
    plan.assignee = person.email
    plan.changes["assignee_email"] = person.email
    plan.staff_notices.append(Notice(
        template=kinds.STAFF_TICKET, to=(person.email,), language=person.language, autoreply=False,
        context=(("event", "assigned"), ("by", plan.sender.name), ("text", plan.text)),
        in_reply_to=plan.thread.last_client_message_id))
    plan.applied.append(plan.say(f"#assign: задачу выполняет {person.name} <{person.email}>; клиенту "
                                 "по-прежнему пишет менеджер",
                                 f"#assign: {person.name} <{person.email}> does the work; the client still "
                                 "hears from the manager"))


TAG = Tag(
    name="assign", arg=ArgKind.REQUIRED_WHO, usage="WHO", order=50, roles=LEADS, rule=assign,
    help_ru="поручить ассистенту; клиенту всё равно пишет менеджер",
    help_en="an assistant does the work; client mail still goes in the manager's name",
)
