"""#cancel [reason]: closed as cancelled; the quota count is given back; the client is told."""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.model import RouteView
from daemon.core.tags._base import LEADS, Plan, Rule, Tag
from parsers.tags import ArgKind, Command


def close_as(status: str) -> Rule:
    """The rule of #cancel and #reject: they differ only in the status and the client mail."""

    def rule(plan: Plan, cmd: Command, view: RouteView) -> None:
        plan.changes["status"] = status
        # A task the service cancels or rejects gives its quota count back (docs/service-rules.md rule 6).
        plan.quota_release = True
        plan.client_tags[cmd.name] = cmd
        status_ru = {"cancelled": "отменённая", "rejected": "отклонённая"}.get(status, status)
        plan.applied.append(plan.say(f"#{cmd.name}: задача закрыта как {status_ru}; клиенту сообщено",
                                     f"#{cmd.name}: ticket closed as {status}; the client is told"))

    return rule


TAG = Tag(
    name="cancel", arg=ArgKind.OPTIONAL_TEXT, usage="[reason]", order=90, roles=LEADS,
    rule=close_as("cancelled"),
    help_ru="закрыть как отменённую; лимит возвращается",
    help_en="close as cancelled; the quota is given back",
    client_notice=kinds.CANCELLED, strength=70, line_text="both", answers_client=True,
)
