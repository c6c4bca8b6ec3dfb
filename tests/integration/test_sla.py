"""The 15-minute promise and the due-time promise, through Dovecot and SMTP.

Most tests drive the real service with a FrozenClock (deterministic); two run the
daemon as a process with minutes set to fractions of a second, as in production.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from daemon.adapters.smtp import SmtpSender
from daemon.clock import FrozenClock
from daemon.service import Service
from store.models import Event, QuotaUse, Ticket, Timer
from tests.integration.deskrig import client_mail, parse_mail, reply_to
from tests.integration.test_daemon_run import start_daemon, stop_daemon


class Clocked:
    """The daemon's service on a frozen clock: fetch, tick the scheduler, send."""

    def __init__(self, desk, start: datetime | None = None) -> None:
        self.desk = desk
        self.clock = FrozenClock(start or datetime.now(UTC))
        self.service = Service(desk.settings, self.clock)

    def cycle(self) -> None:
        self.service.fetch_once()
        self.service.process()
        self.service.tick()
        sender = SmtpSender(self.desk.settings.smtp)
        try:
            self.service.flush_once(sender)
        finally:
            sender.close()

    def advance(self, **delta: float) -> None:
        self.clock.advance(**delta)
        self.cycle()


def subjects(desk, user):
    return [str(m["Subject"]) for m in desk.inbox(user)]


def test_nobody_answers_reminder_then_escalation(desk):
    client = desk.add_client()
    run = Clocked(desk)
    desk.deliver(client_mail(client, desk.support, "Срочно", "Нужна помощь"))
    run.cycle()
    assert not any("Напоминание" in s for s in subjects(desk, desk.manager))
    run.advance(minutes=10, seconds=5)
    assert sum("Напоминание" in s for s in subjects(desk, desk.manager)) == 1
    assert desk.inbox(desk.admin) == []
    run.advance(minutes=5)
    (escalation,) = desk.inbox(desk.admin)
    assert "SLA breached" in escalation["Subject"] and "OA-1" in escalation["Subject"]
    assert Ticket.get().breached_at is not None
    # Reminders and escalations never go to the client.
    assert len(desk.inbox(client)) == 1
    run.advance(minutes=30)
    assert len(desk.inbox(desk.admin)) == 1 and sum("Напоминание" in s for s in subjects(desk, desk.manager)) == 1


def test_answered_in_time_gets_neither(desk):
    client = desk.add_client()
    run = Clocked(desk)
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    run.cycle()
    notice = desk.latest(desk.manager)
    run.clock.advance(minutes=5)
    desk.deliver(reply_to(notice, desk.manager, "#ask\nНа какое число?"))
    run.cycle()
    run.advance(minutes=30)
    assert not any("Напоминание" in s for s in subjects(desk, desk.manager))
    assert desk.inbox(desk.admin) == []
    (response,) = Event.select().where(Event.kind == "response")
    seconds = int(response.detail.split("seconds=")[1].split()[0])
    assert 298 <= seconds <= 301  # INTERNALDATE has whole seconds


def test_clock_starts_at_arrival_not_fetch(desk):
    client = desk.add_client()
    arrived = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=12)
    desk.deliver(client_mail(client, desk.support, "Давно пришло", "Текст"), internaldate=arrived)
    run = Clocked(desk)
    run.cycle()
    ticket = Ticket.get()
    due = ticket.first_response_due.replace(tzinfo=UTC)
    assert abs((due - (arrived + timedelta(minutes=15))).total_seconds()) < 2
    # The reminder point (10 min) was already behind us: it goes out at once, marked late.
    assert sum("Напоминание" in s for s in subjects(desk, desk.manager)) == 1


def test_due_nobody_moves_warns_manager_then_one_client_notice(desk):
    client = desk.add_client()
    run = Clocked(desk, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    desk.deliver(client_mail(client, desk.support, "Билеты", "Текст"))
    run.cycle()
    desk.deliver(reply_to(desk.latest(desk.manager), desk.manager, "#accept 2026-12-01 16:00"))
    run.cycle()  # due 16:00 Moscow = 13:00 UTC
    run.clock.advance(hours=3, minutes=1)   # 12:01 UTC: 59 min before due
    run.cycle()
    assert any("завершите или перенесите" in s for s in subjects(desk, desk.manager))
    before = len(desk.inbox(client))
    run.advance(minutes=45)                 # 12:46 UTC: 14 min before due
    notices = [m for m in desk.inbox(client)[before:] if "завершаем" in str(m["Subject"])]
    assert len(notices) == 1
    assert notices[0]["From"].addresses[0].display_name.startswith("Анна")
    assert any("Delay notice sent" in s for s in subjects(desk, desk.admin))
    run.advance(minutes=30)
    assert len([m for m in desk.inbox(client) if "завершаем" in str(m["Subject"])]) == 1
    delays = [e.detail for e in Event.select().where(Event.kind == "delay")]
    assert delays == ["by daemon"]


def test_delay_restarts_the_guard_for_the_new_time(desk):
    client = desk.add_client()
    run = Clocked(desk, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    desk.deliver(client_mail(client, desk.support, "Билеты", "Текст"))
    run.cycle()
    notice = desk.latest(desk.manager)
    desk.deliver(reply_to(notice, desk.manager, "#accept 2026-12-01 16:00"))
    run.cycle()
    run.clock.advance(hours=3, minutes=1)
    run.cycle()  # the warning
    desk.deliver(reply_to(notice, desk.manager, "#delay 2026-12-02 16:00 ждём подтверждения от театра"))
    run.cycle()
    run.advance(hours=2)  # past the old due time: no automatic notice
    assert not any("завершаем" in s for s in subjects(desk, client))
    pending = {t.kind for t in Timer.select().where(Timer.fired_at.is_null())}
    assert pending == {"due-warning", "due-client-notice"}


def test_waiting_for_the_client_reminds_then_closes(desk):
    client = desk.add_client()
    run = Clocked(desk)
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    run.cycle()
    notice = desk.latest(desk.manager)
    desk.deliver(reply_to(notice, desk.manager, "#accept +1d"))
    run.cycle()
    desk.deliver(reply_to(notice, desk.manager, "#ask\nКакой цвет?"))
    run.cycle()
    assert QuotaUse.select().where(QuotaUse.released_at.is_null()).count() == 1
    run.advance(days=2, minutes=1)
    assert sum("ждём вашего ответа" in s for s in subjects(desk, client)) == 1
    run.advance(days=5)
    assert sum("закрыта без ответа" in s for s in subjects(desk, client)) == 1
    assert Ticket.get().status == "closed"
    # Closed without the client's answer: the quota count comes back.
    assert QuotaUse.select().where(QuotaUse.released_at.is_null()).count() == 0


def test_working_hours_pause_the_clock(desk):
    desk.config_path.write_text(desk.config_path.read_text().replace("[staff_mail]", """[sla.calendar]
timezone = "Europe/Moscow"
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-18:00"
fri = "09:00-18:00"

[staff_mail]"""))
    from daemon.config import load

    desk.settings = load(desk.config_path)
    client = desk.add_client()
    friday_night = datetime(2026, 11, 20, 20, 50, tzinfo=UTC)  # 23:50 Moscow, Friday (past: servers clamp future dates)
    desk.deliver(client_mail(client, desk.support, "Пятница", "Текст"), internaldate=friday_night)
    Clocked(desk, friday_night + timedelta(minutes=1)).cycle()
    due = Ticket.get().first_response_due.replace(tzinfo=UTC)
    assert due == datetime(2026, 11, 23, 6, 15, tzinfo=UTC)  # Monday 09:15 Moscow


def test_report_and_ticket_filters(desk):
    client = desk.add_client()
    run = Clocked(desk)
    desk.deliver(client_mail(client, desk.support, "Первая", "Текст"))
    desk.deliver(client_mail(client, desk.support, "Вторая", "Текст"))
    run.cycle()
    first = [m for m in desk.inbox(desk.manager) if "Первая" in str(m["Subject"])][0]
    run.clock.advance(minutes=3)
    desk.deliver(reply_to(first, desk.manager, "#accept +1d"))
    run.cycle()
    run.advance(minutes=20)  # the second one breaches
    report = json.loads(desk.run_process("--json", "report", "sla").stdout)
    total = report["total"]
    assert total["tickets"] == 2 and total["breaches"] == 1 and total["answered"] == 1
    # INTERNALDATE has whole seconds; the frozen clock started a moment before the APPEND.
    assert 178 <= total["first_response_median_seconds"] <= 181
    assert report["managers"][0]["manager"] == desk.manager
    breached = json.loads(desk.run_process("--json", "ticket", "list", "--breached").stdout)
    assert [t["key"] for t in breached] == ["OA-2"]
    due = json.loads(desk.run_process("--json", "ticket", "list", "--due-before", "+2d").stdout)
    assert [t["key"] for t in due] == ["OA-1"]


def subject_of(received) -> str:
    return str(parse_mail(received.raw)["Subject"])


def test_real_daemon_reminds_and_escalates_in_seconds_and_survives_a_restart(desk):
    """Minutes as fractions: reminder at 1.2 s, breach at 3 s; a restart in between repeats nothing."""
    text = desk.config_path.read_text().replace("[staff_mail]", """[sla]
first_response_minutes = 0.05
reminder_minutes = 0.02
tick_seconds = 0.2

[staff_mail]""")
    desk.config_path.write_text(text)
    client = desk.add_client()
    proc = start_daemon(desk)
    try:
        time.sleep(0.5)
        desk.deliver(client_mail(client, desk.support, "Быстро", "Текст"))
        desk.sink.wait_for(lambda m: "Напоминание" in subject_of(m), timeout=10)
    finally:
        stop_daemon(proc)
    fired = Timer.select().where(Timer.fired_at.is_null(False))
    assert [t.kind for t in fired] == ["sla-reminder"]
    proc = start_daemon(desk)
    try:
        desk.sink.wait_for(lambda m: desk.admin in m.rcpt_tos, timeout=10)
        time.sleep(0.5)
    finally:
        stop_daemon(proc)
    assert sorted(t.kind for t in Timer.select().where(Timer.fired_at.is_null(False))) == [
        "sla-breach", "sla-reminder"]
    subjects_seen = [subject_of(m) for m in desk.sink.received]
    assert sum("Напоминание" in s for s in subjects_seen) == 1
    assert sum("SLA breached" in s for s in subjects_seen) == 1
