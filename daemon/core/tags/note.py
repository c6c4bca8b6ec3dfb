"""#note [text]: an internal note, never sent to the client; the one tag a closed ticket takes."""

from __future__ import annotations

from daemon.core.model import RouteView
from daemon.core.tags._base import ALL, Plan, Tag
from parsers.tags import ArgKind, Command


def note(plan: Plan, cmd: Command, view: RouteView) -> None:
    plan.note = cmd.text
    plan.applied.append(plan.say("#note: внутренняя заметка сохранена (клиенту не отправлена)",
                                 "#note: internal note saved (not sent to the client)"))


TAG = Tag(
    name="note", arg=ArgKind.OPTIONAL_TEXT, usage="[text]", order=40, roles=ALL, rule=note,
    help_ru="внутренняя заметка, клиенту не отправляется",
    help_en="internal note, never sent to the client",
    when_closed=True,
)
