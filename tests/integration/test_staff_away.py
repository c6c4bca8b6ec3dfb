"""A manager is away (`oneassist staff away`): her deputy gets the notifications and reminders,
may act on her tickets, and answers in his own name; away ends by itself (issue 12).

Through Dovecot and SMTP, on a frozen clock so that reminders and the end of the leave come
when the test says.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from daemon.cli import main
from store.models import Event, Ticket
from tests.integration.deskrig import client_mail
from tests.integration.test_sla import Clocked

MSK = ZoneInfo("Europe/Moscow")


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def cli(desk, clock, *argv: str, capsys=None) -> str:
    if capsys is not None:
        capsys.readouterr()
    code = main(["--config", str(desk.config_path), *argv], clock)
    out = capsys.readouterr().out if capsys is not None else ""
    assert code == 0, out
    return out


def test_deputy_gets_the_work_answers_in_his_name_and_away_ends_by_itself(desk, capsys):
    client = desk.add_client(name="Иван Петров")
    # The clock starts now: the mail's arrival (its INTERNALDATE) is real time.
    run = Clocked(desk)
    out = cli(desk, run.clock, "staff", "away", desk.manager, "--until", "+7d", "--deputy", desk.manager2,
              capsys=capsys)
    until = (run.clock.now() + timedelta(days=7)).astimezone(MSK).strftime("%d.%m.%Y %H:%M")
    assert f"is away until {until}" in out

    desk.deliver(client_mail(client, desk.support, "Билеты в театр", "Два билета на субботу"))
    run.cycle()
    # The client still hears from Anna, and learns who answers meanwhile.
    (ack,) = desk.inbox(client)
    assert ack["From"].addresses[0].display_name.startswith("Анна")
    assert f"Анна отсутствует до {until}" in text_of(ack) and "Борис" in text_of(ack)
    # The notification goes to Boris, in his name's place; Anna gets nothing while away.
    (notice,) = desk.inbox(desk.manager2)
    assert "Билеты в театр" in str(notice["Subject"]) or "OA-1" in str(notice["Subject"])
    assert "Вы замещаете: Анна" in text_of(notice) and "Два билета" in text_of(notice)
    assert desk.inbox(desk.manager) == []

    # The SLA reminder follows the notification to the deputy.
    run.advance(minutes=10, seconds=5)
    assert any("Напоминание" in str(m["Subject"]) for m in desk.inbox(desk.manager2))
    assert desk.inbox(desk.manager) == []

    # Boris answers from his notification, with Anna's authority; the client reads his name.
    from tests.integration.deskrig import reply_to

    desk.deliver(reply_to(notice, desk.manager2, "#accept 2026-12-05 18:00\nКуплю билеты в партер.",
                          name="Борис"))
    run.cycle()
    accepted = desk.latest(client)
    assert accepted["From"].addresses[0].display_name.startswith("Борис")
    body = text_of(accepted)
    assert body.startswith(f"Ваш персональный менеджер Анна отсутствует до {until} UTC+3; "
                           "на это время ваши задачи веду я, Борис.")
    assert "Куплю билеты в партер." in body and body.rstrip().endswith("Борис\nOneAssist")
    ticket = Ticket.get()
    assert ticket.status == "accepted" and ticket.manager_email == desk.manager
    assert Event.get(Event.kind == "deputy").detail.startswith(f"{desk.manager2} for {desk.manager}")

    # An assistant who is nobody's deputy still may not drive the ticket.
    desk.deliver(reply_to(notice, desk.assistant, "#done\nГотово", name="Пётр"))
    run.cycle()
    assert Ticket.get().status == "accepted"
    assert "OA-1" in text_of(desk.latest(desk.assistant))

    show = cli(desk, run.clock, "ticket", "show", "OA-1", capsys=capsys)
    assert f"* deputy {desk.manager2} for {desk.manager}" in show
    print(show)

    # Away ends by itself at --until: the next task's notification reaches Anna again and
    # Boris may no longer act on her tickets.
    run.advance(days=8)
    before = len(desk.inbox(desk.manager2))
    desk.deliver(client_mail(client, desk.support, "Такси", "На вокзал к 7 утра"))
    run.cycle()
    assert "Такси" in text_of(desk.latest(desk.manager))
    assert "отсутствует" not in text_of(desk.latest(client))
    desk.deliver(reply_to(notice, desk.manager2, "#done\nБилеты у вас", name="Борис"))
    run.cycle()
    assert Ticket.get(Ticket.key == "OA-1").status == "accepted"
    assert len(desk.inbox(desk.manager2)) == before + 1  # only his refusal transcript


def test_staff_back_ends_the_absence_and_bad_input_is_refused(desk, capsys):
    client = desk.add_client()
    run = Clocked(desk)
    cli(desk, run.clock, "staff", "away", desk.manager, "--until", "+7d", "--deputy", desk.manager2)
    listing = cli(desk, run.clock, "staff", "list", capsys=capsys)
    assert desk.manager2 in listing and (run.clock.now() + timedelta(days=7)).astimezone(MSK).date().isoformat() \
        in listing
    cli(desk, run.clock, "staff", "back", desk.manager)
    desk.deliver(client_mail(client, desk.support, "Цветы", "Розы"))
    run.cycle()
    assert desk.inbox(desk.manager2) == [] and "Розы" in text_of(desk.inbox(desk.manager)[0])

    for argv, hint in ((("--until", "+7d", "--deputy", "nobody@example.test"), "is not in [[staff]]"),
                       (("--until", "+7d", "--deputy", desk.manager), "someone else"),
                       (("--until", "2020-01-01", "--deputy", desk.manager2), "not in the future")):
        capsys.readouterr()
        assert main(["--config", str(desk.config_path), "staff", "away", desk.manager, *argv], run.clock) == 2
        assert hint in capsys.readouterr().err
