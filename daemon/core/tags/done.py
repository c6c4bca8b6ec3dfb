"""#done [text]: finished; the text and every attachment of the mail go to the client."""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.model import RouteView
from daemon.core.tags._base import ALL, Plan, Tag
from parsers.tags import ArgKind, Command


def done(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.changes["status"] = "done"
    plan.client_tags["done"] = cmd
    plan.applied.append(plan.say("#done: клиенту ушло сообщение о выполнении с вложениями",
                                 "#done: completion notice sent to the client with the attachments"))


TAG = Tag(
    name="done", arg=ArgKind.OPTIONAL_TEXT, usage="[text]", order=80, roles=ALL, rule=done,
    help_ru="готово: текст и вложения уходят клиенту",
    help_en="finished: the text and attachments go to the client",
    client_notice=kinds.DONE, strength=80, answers_client=True,
)
