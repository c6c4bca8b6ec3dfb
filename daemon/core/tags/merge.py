"""#merge OA-N: merged into another open ticket of the same client."""

from __future__ import annotations

from daemon.core.model import RouteView
from daemon.core.routing import CLOSED_STATUSES, status_word
from daemon.core.tags._base import LEADS, Plan, Tag
from parsers.tags import ArgKind, Command


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
        plan.applied.append(plan.say(f"#merge: объединена с {target.key}", f"#merge: merged into {target.key}"))


TAG = Tag(
    name="merge", arg=ArgKind.REQUIRED_TICKET_KEY, usage="{prefix}-N", order=130, roles=LEADS, rule=merge,
    help_ru="объединить с другой задачей того же клиента",
    help_en="merge into another ticket of the same client",
)
