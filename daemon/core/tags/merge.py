"""#merge OA-N: merged into another open ticket of the same client, which takes its mail.

The merged ticket's mails move to the target, and its reply tokens, subject tag and
Message-IDs resolve to the target from then on (store/queries.py), so a client's
follow-up on the old thread and a manager's answer there both land on the target.
The client is told once, on the target's thread, in the manager's name.
"""

from __future__ import annotations

from daemon.core.model import Notice, RouteView
from daemon.core.notice_kinds import NoticeKind
from daemon.core.routing import CLOSED_STATUSES, status_word
from daemon.core.tags._base import LEADS, Plan, Tag, TagNotice
from parsers.tags import ArgKind, Command

NOTICE = NoticeKind("client.notice.merged")


def merge(plan: Plan, cmd: Command, view: RouteView) -> None:
    target = next((t for t in view.named_tickets if t.key == cmd.ticket_key), None)
    if target is None:
        plan.refused.append(plan.say(f"#merge {cmd.ticket_key}: нет такой задачи",
                                     f"#merge {cmd.ticket_key}: no such ticket"))
    elif target.id == plan.ticket.id:
        plan.refused.append(plan.say(f"#merge {cmd.ticket_key}: задачу нельзя объединить с ней самой",
                                     f"#merge {cmd.ticket_key}: a ticket cannot be merged into itself"))
    elif target.client_id != plan.ticket.client_id:
        # Never join two clients' work: that would show one client's mail to another.
        plan.refused.append(plan.say(f"#merge {cmd.ticket_key}: это задача другого клиента",
                                     f"#merge {cmd.ticket_key}: that ticket belongs to another client"))
    elif target.status in CLOSED_STATUSES:
        plan.refused.append(plan.say(f"#merge {cmd.ticket_key}: та задача закрыта ({status_word(target.status, 'ru')})",
                                     f"#merge {cmd.ticket_key}: that ticket is closed ({target.status})"))
    else:
        plan.merge_into = target
        plan.changes["status"] = "merged"
        plan.changes["merged_into"] = target.key
        client = plan.thread.client
        # scope "merge": rendered about the target, so the client's reply carries its token.
        plan.extra_client_notices.append(Notice(
            template=NOTICE, to=(client.email,), language=client.language, autoreply=False, scope="merge",
            context=(("merged_key", plan.ticket.key), ("merged_subject", plan.ticket.subject)),
            in_reply_to=plan.thread.last_client_message_id, references=plan.thread.message_ids))
        plan.applied.append(plan.say(f"#merge: объединена с {target.key}; её письма перенесены туда, клиенту сообщено",
                                     f"#merge: merged into {target.key}; its mail moved there and the client is told"))


TAG = Tag(
    name="merge", arg=ArgKind.REQUIRED_TICKET_KEY, usage="{prefix}-N", order=130, roles=LEADS, rule=merge,
    help_ru="объединить с другой задачей того же клиента; письма и ответы по старой идут в новую",
    help_en="merge into another ticket of the same client; its mail and later replies go there",
    notices=(TagNotice(NOTICE, ("ticket_key", "subject", "client_name", "manager_name", "service_name",
                                "merged_key", "merged_subject"),
                       samples=(("merged_key", "OA-6"), ("merged_subject", "Билеты в театр, ещё вопрос"))),),
)
