"""#remind WHEN [text]: the client is told nothing; the sender gets the text back at WHEN.

The rule sets a one-off timer ("#remind") with the text, the sender and her language;
the scheduler stores it like any deadline (so a restart loses nothing) and hands it
back to `fire` below when WHEN passes. The reminder comes whatever the ticket did
meanwhile (closed, merged): it is the sender's own note to self. Like every tag but
#note it is refused on a ticket that is already closed.
"""

from __future__ import annotations

from daemon.core.effects import Decision, RecordEvent, SendNotice
from daemon.core.model import Notice, RouteView
from daemon.core.notice_kinds import NoticeKind
from daemon.core.tags._base import ALL, FiredTimer, Plan, Tag, TagNotice
from parsers.tags import ArgKind, Command

NOTICE = NoticeKind("staff.notice.remind")


def remind(plan: Plan, cmd: Command, view: RouteView) -> None:
    assert cmd.when is not None
    # The text on the tag line, else the mail's text after the tags.
    text = cmd.text or plan.text
    plan.add_timer("remind", cmd.when, to=plan.sender.email, language=plan.sender.language, text=text)
    plan.applied.append(plan.say(f"#remind: напоминание придёт {plan.time(cmd.when)} (клиенту ничего не уходит)",
                                 f"#remind: you will be reminded at {plan.time(cmd.when)}"
                                 " (the client is told nothing)"))


def fire(timer: FiredTimer) -> Decision:
    to, language = timer.data["to"], timer.data.get("language") or timer.language_of(timer.data["to"])
    notice = Notice(template=NOTICE, to=(to,), language=language, autoreply=False,
                    context=(("text", timer.data.get("text", "")), ("late_minutes", timer.late_minutes)))
    return Decision(outcome="remind", route=timer.route, effects=(RecordEvent("remind", f"to {to}"),
                                                                  SendNotice(notice)))


TAG = Tag(
    name="remind", arg=ArgKind.WHEN_AND_TEXT, usage="WHEN [text]", order=150, roles=ALL, rule=remind,
    help_ru="напомнить себе в WHEN (текст придёт вам письмом); клиенту ничего не уходит",
    help_en="remind yourself at WHEN (the text comes back to you by mail); the client is told nothing",
    fire=fire,
    notices=(TagNotice(NOTICE, ("ticket_key", "subject", "client_name", "text", "late_minutes")),),
)
