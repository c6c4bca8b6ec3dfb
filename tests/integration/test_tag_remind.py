"""#remind through Dovecot and SMTP: the manager is reminded at WHEN, the client hears nothing (issue 10).

The whole tag is daemon/core/tags/remind.py plus its templates: the timer it sets is
stored with the ticket's other deadlines, survives the replans of later state changes,
and fires once.
"""

from __future__ import annotations

from store.models import Timer
from tests.integration.deskrig import client_mail, reply_to
from tests.integration.test_sla import Clocked


def reminders(desk) -> list:
    return [m for m in desk.inbox(desk.manager) if "позвонить в ресторан" in str(m["Subject"])]


def test_remind_reaches_the_manager_after_two_hours_and_the_client_gets_nothing(desk):
    client = desk.add_client()
    run = Clocked(desk)
    desk.deliver(client_mail(client, desk.support, "Столик на пятницу", "Забронируйте, пожалуйста"))
    run.cycle()
    notice = desk.latest(desk.manager)
    assert len(desk.inbox(client)) == 1  # the ack
    desk.deliver(reply_to(notice, desk.manager, "#remind +2h позвонить в ресторан"))
    run.cycle()
    assert Timer.select().where(Timer.kind == "#remind", Timer.fired_at.is_null()).count() == 1
    # Every later staff mail replans the ticket's derived timers; the reminder stays.
    desk.deliver(reply_to(notice, desk.manager, "#note звонила, занято"))
    run.cycle()
    assert Timer.select().where(Timer.kind == "#remind", Timer.fired_at.is_null()).count() == 1
    run.advance(hours=1, minutes=58)
    assert reminders(desk) == []
    run.advance(minutes=3)
    (reminder,) = reminders(desk)
    body = reminder.get_body(("plain",)).get_content()
    assert "[OA-1]" in reminder["Subject"] and "Напоминание" in reminder["Subject"]
    assert "позвонить в ресторан" in body and "Столик на пятницу" in body
    run.advance(hours=3)
    assert len(reminders(desk)) == 1
    # The client got the ack of the task and nothing else.
    (ack,) = desk.inbox(client)
    assert "ресторан" not in ack.get_body(("plain",)).get_content()
