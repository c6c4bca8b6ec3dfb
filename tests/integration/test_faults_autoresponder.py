"""A rude autoresponder (docs/reliability.md case 19): it answers every mail it gets, for an
hour of simulated time, with RFC 3834 markers, with only a telling subject, or with nothing
at all (a fixed subject, no In-Reply-To).

Must hold: at most the cap of automatic mails reaches it (service.autoreply_limit_per_day),
and its answers do not become a storm of tickets.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from daemon.clock import FrozenClock
from daemon.service import Service
from store.models import SpoolEntry, Ticket
from tests.integration.deskrig import client_mail

STYLES = {
    # RFC 3834: Auto-Submitted, the original's subject after "Автоответ:".
    "rfc3834": lambda subject, mid: ("Автоответ: " + subject, {"Auto-Submitted": "auto-replied",
                                                                "In-Reply-To": mid}),
    # No header says it, but it threads: "Re:" and In-Reply-To our mail.
    "threaded": lambda subject, mid: ("Re: " + subject, {"In-Reply-To": mid, "References": mid}),
    # Nothing at all: the same words every time, no thread, no marker.
    "bare": lambda subject, mid: ("Я в отпуске до понедельника", {}),
}
CAP = 5


@pytest.mark.parametrize("style", sorted(STYLES))
def test_a_responder_that_answers_everything_gets_at_most_the_cap(desk, style):
    text = desk.config_path.read_text(encoding="utf-8")
    desk.config_path.write_text(text.replace("[service]\n", f"[service]\nautoreply_limit_per_day = {CAP}\n", 1),
                                encoding="utf-8")
    from daemon.config import load

    desk.settings = load(desk.config_path)
    client = desk.add_client("responder")
    clock = FrozenClock(datetime.now(UTC))
    service = Service(desk.settings, clock)
    desk.deliver(client_mail(client, desk.support, "Билеты в театр", "Два билета на субботу"))
    answered = delivered = 0
    for _minute in range(60):  # an hour, one daemon pass a simulated minute
        service.run_once()
        inbox = desk.inbox(client)
        for mail in inbox[answered:]:
            subject, extra = STYLES[style](str(mail["Subject"]), mail["Message-ID"])
            desk.deliver(client_mail(client, desk.support, subject,
                                     "Я в отпуске до понедельника, отвечу по возвращении.", extra=extra))
            delivered += 1
        answered = len(inbox)
        clock.advance(minutes=1)
    service.run_once()
    to_responder = desk.inbox(client)
    assert len(to_responder) <= CAP, [str(m["Subject"]) for m in to_responder]
    # The task, and for the bare responder its first two answers (daemon/runners/repeats.py).
    assert Ticket.select().count() <= 3, [t.subject for t in Ticket.select()]
    # Every answer it sent is kept in the spool all the same.
    assert SpoolEntry.select().count() == 1 + delivered
    assert desk.intake_left() == []
