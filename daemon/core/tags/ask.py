"""#ask [text]: the text goes to the client as a question; the ticket waits for the answer."""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.model import RouteView
from daemon.core.tags._base import ALL, Plan, Tag
from parsers.tags import ArgKind, Command


def ask(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.changes["status"] = "waiting"
    plan.client_tags["ask"] = cmd
    plan.applied.append(plan.say("#ask: вопрос отправлен клиенту; задача ждёт ответа",
                                 "#ask: question sent to the client; the ticket waits for the answer"))


TAG = Tag(
    name="ask", arg=ArgKind.OPTIONAL_TEXT, usage="[text]", order=20, roles=ALL, rule=ask,
    help_ru="текст уходит клиенту как вопрос; задача ждёт ответа клиента",
    help_en="the text goes to the client as a question; the ticket waits for the client",
    client_notice=kinds.QUESTION, strength=40, answers_client=True,
)
