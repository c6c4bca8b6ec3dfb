"""A client moves to another manager (`client set --manager`): their tickets follow and the new
manager gets one summary mail, through Dovecot and SMTP (issue 12)."""

from __future__ import annotations

import re

from daemon.cli import main
from store.models import Event, Ticket
from tests.integration.deskrig import client_mail


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_open_tickets_follow_the_client_and_the_new_manager_gets_one_summary(desk, capsys):
    client = desk.add_client(name="Иван Петров")
    _, first = desk.new_task(client, "Билеты в театр", "Два билета на субботу")
    desk.answer(first, desk.manager, "#accept 2026-12-30 18:00\nБерусь.")
    _, second = desk.new_task(client, "Цветы", "Розы к 18:00")
    desk.answer(second, desk.manager, "#done\nЦветы доставлены.")
    anna_before = len(desk.inbox(desk.manager))

    capsys.readouterr()
    assert main(["--config", str(desk.config_path), "client", "set", client, "--manager", desk.manager2]) == 0
    out = capsys.readouterr().out
    assert f"manager {desk.manager} -> {desk.manager2} (OA-1)" in out
    desk.run_once()

    (summary,) = desk.inbox(desk.manager2)
    assert "Новый клиент у вас: Иван Петров, открытых задач: 1" in str(summary["Subject"])
    body = text_of(summary)
    assert "передан вам от менеджера Анна" in body
    assert "OA-1  [в работе]  Билеты в театр  (срок: 30.12.2026 18:00 UTC+3)" in body and "OA-2" not in body
    staff_address = re.search(r"теги и ответы клиенту: (\S+)", body).group(1)
    assert staff_address.lower().startswith(desk.support.split("@")[0].lower() + "+oa-1.")
    assert len(desk.inbox(desk.manager)) == anna_before
    assert {t.manager_email for t in Ticket.select()} == {desk.manager2}
    assert Event.select().where(Event.kind == "manager").count() == 2

    # Boris runs OA-1 by writing to the address the summary gave him; the client reads his name.
    desk.deliver(client_mail(desk.manager2, staff_address, "OA-1", "#done\nБилеты у вас в почте.", name="Борис"))
    desk.run_once()
    assert Ticket.get(Ticket.key == "OA-1").status == "done"
    done = desk.latest(client)
    assert done["From"].addresses[0].display_name.startswith("Борис") and "Билеты у вас" in text_of(done)
    # Anna no longer drives the client's tickets.
    desk.answer(first, desk.manager, "#reply\nЕщё вопрос")
    assert "Ещё вопрос" not in text_of(desk.latest(client))
    assert "вы не менеджер" in text_of(desk.latest(desk.manager))

    # The client reopens the closed OA-2: the notification goes to Boris, not Anna.
    ack2 = [m for m in desk.inbox(client) if "OA-2" in str(m["Subject"])][-1]
    desk.deliver(client_mail(client, str(ack2["Reply-To"].addresses[0].addr_spec), "Re: " + str(ack2["Subject"]),
                             "Нужны ещё тюльпаны", in_reply_to=ack2["Message-ID"]))
    desk.run_once()
    assert "Нужны ещё тюльпаны" in text_of(desk.latest(desk.manager2))
    assert all("тюльпаны" not in text_of(m) for m in desk.inbox(desk.manager))


def test_moving_to_someone_who_is_not_a_manager_is_refused(desk, capsys):
    client = desk.add_client()
    capsys.readouterr()
    assert main(["--config", str(desk.config_path), "client", "set", client, "--manager", desk.assistant]) == 2
    assert "is not a manager in [[staff]]" in capsys.readouterr().err
    assert Ticket.select().count() == 0 and desk.inbox(desk.assistant) == []
