"""#split [subject]: the client's last mail becomes a new ticket of the same client, acked to them."""

from __future__ import annotations

from daemon.core.model import Notice, RouteView
from daemon.core.tags._base import LEADS, Plan, Tag
from parsers.tags import ArgKind, Command


def split(plan: Plan, cmd: Command, view: RouteView) -> None:
    if plan.thread.last_client_entry_id is None:
        plan.refused.append(plan.say("#split: в задаче нет письма клиента, которое можно выделить",
                                     "#split: the ticket has no client mail to split off"))
        return
    plan.split_subject = cmd.text or plan.thread.last_client_subject or plan.ticket.subject
    client = plan.thread.client
    plan.extra_client_notices.append(Notice(
        template="client.notice.ack", to=(client.email,), language=client.language, scope="split",
        in_reply_to=plan.thread.last_client_message_id))
    plan.applied.append(plan.say(f"#split: последнее письмо клиента стало новой задачей «{plan.split_subject}»",
                                 f"#split: the client's last mail becomes a new ticket \"{plan.split_subject}\""))


TAG = Tag(
    name="split", arg=ArgKind.OPTIONAL_TEXT, usage="[subject]", order=140, roles=LEADS, rule=split,
    help_ru="текст становится новой задачей того же клиента",
    help_en="the text becomes a new ticket of the same client",
)
