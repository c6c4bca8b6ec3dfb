"""#due WHEN: a new due time; the client is told.

#delay (delay.py) runs the same rule, but it is a tag of its own: it takes a reason
after WHEN, sends a different client mail and outranks #due in the one the client gets.
"""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.model import RouteView
from daemon.core.tags._base import ALL, Plan, Tag
from parsers.tags import ArgKind, Command


def move_due(plan: Plan, cmd: Command, view: RouteView) -> None:
    assert cmd.when is not None
    plan.changes["due_at"] = cmd.when
    plan.client_tags[cmd.name] = cmd
    # One "delay" event per mail for the report, even with #due and #delay together.
    event = ("delay", f"by {plan.sender.email}")
    if event not in plan.events:
        plan.events.append(event)
    plan.applied.append(plan.say(f"#{cmd.name}: срок {plan.time(cmd.when)}; клиенту сообщено",
                                 f"#{cmd.name}: due {plan.time(cmd.when)}; the client is told"))


TAG = Tag(
    name="due", arg=ArgKind.REQUIRED_WHEN, usage="WHEN", order=60, roles=ALL, rule=move_due,
    help_ru="новый срок; клиенту сообщается до старого срока",
    help_en="new due time; the client is told before the old one passes",
    client_notice=kinds.DUE, strength=20,
)
