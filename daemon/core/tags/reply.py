"""#reply [text]: the text goes to the client; no state change. A mail with no tag is a #reply."""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.model import RouteView
from daemon.core.tags._base import ALL, Plan, Tag
from parsers.tags import ArgKind, Command


def reply(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.client_tags["reply"] = cmd
    plan.applied.append(plan.say("#reply: ответ отправлен клиенту", "#reply: answer sent to the client"))


TAG = Tag(
    name="reply", arg=ArgKind.OPTIONAL_TEXT, usage="[text]", order=30, roles=ALL, rule=reply,
    help_ru="текст уходит клиенту; состояние не меняется",
    help_en="the text goes to the client; no state change",
    client_notice=kinds.REPLY, strength=10, answers_client=True,
)
