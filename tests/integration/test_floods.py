"""Floods: one source cannot bury the admins or a manager in mail, nor use us for backscatter.

Issue 9, finding 9 (docs/reliability.md cases 19 and 43, floods). Everything
goes through Dovecot and the SMTP sink; time moves on a FrozenClock as in test_sla.py, so
"when the hour window closes" is a clock step, not a wait.
"""

from __future__ import annotations

from daemon.config import load
from daemon.service import Service
from store.models import NoticeWindow, SpoolEntry, Ticket
from tests.integration.deskrig import client_mail, reply_to
from tests.integration.test_sla import Clocked


def _text(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def _flood_mail(desk, user) -> tuple[list, list]:
    """(unverified-sender alerts, digests) in a user's inbox; SLA escalations are left out."""
    mails = desk.inbox(user)
    return ([m for m in mails if "Unverified" in m["Subject"]],
            [m for m in mails if "held back" in m["Subject"]])


def _with_service_keys(desk, **keys: int) -> None:
    """Extra [service] keys in the rig's config, then reload the settings."""
    text = desk.config_path.read_text(encoding="utf-8")
    extra = "".join(f"{k} = {v}\n" for k, v in keys.items())
    desk.config_path.write_text(text.replace("[service]\n", "[service]\n" + extra, 1), encoding="utf-8")
    desk.settings = load(desk.config_path)


def test_forged_staff_flood_gives_capped_alerts_then_one_digest_after_restart(desk):
    """30 mails with a forged staff From: 3 alerts (the default cap) and, once the hour is
    over, one digest counting the other 27, sent by a restarted daemon exactly once."""
    client = desk.add_client()
    run = Clocked(desk)
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    run.cycle()
    notice = desk.latest(desk.manager)
    for i in range(30):
        desk.deliver(reply_to(notice, desk.manager, f"#done {i}", to=desk.support))
    run.cycle()
    alerts = desk.inbox(desk.admin)
    assert len(alerts) == 3 and all("Unverified" in a["Subject"] for a in alerts)
    # Nothing was dropped: every forged mail is kept and marked, and the ticket is untouched.
    outcomes = [e.outcome for e in SpoolEntry.select().where(SpoolEntry.outcome == "staff-unauthenticated")]
    assert len(outcomes) == 30
    assert Ticket.get().status == "new"
    run.advance(minutes=59)
    assert [len(x) for x in _flood_mail(desk, desk.admin)] == [3, 0]
    # The daemon restarts after the hour: the held count comes from the store.
    restarted = Clocked(desk, start=run.clock.now())
    restarted.advance(minutes=2)
    restarted.advance(minutes=5)
    alerts, digests = _flood_mail(desk, desk.admin)
    assert len(alerts) == 3 and len(digests) == 1
    digest = digests[0]
    assert "27" in digest["Subject"] and desk.manager in digest["Subject"]
    body = _text(digest)
    assert "Held back: 27" in body and "staff.alert.unauthenticated" in body
    assert NoticeWindow.get(NoticeWindow.kind == "staff.alert.unauthenticated").digest_at is not None


def test_client_task_flood_acks_every_task_but_caps_manager_notifications(desk):
    """50 tasks from one client in a minute: 50 tickets and 50 acks, 10 notifications to the
    manager (the default cap), and one digest for the other 40 after the hour."""
    _with_service_keys(desk, autoreply_limit_per_day=100)
    client = desk.add_client()
    run = Clocked(desk)
    for i in range(50):
        desk.deliver(client_mail(client, desk.support, f"Задача {i}", f"Текст {i}"))
    run.cycle()
    assert Ticket.select().count() == 50
    assert len(desk.inbox(client)) == 50
    assert len(desk.inbox(desk.manager)) == 10

    def task_mail():
        # The SLA reminders of 50 unanswered tickets also reach the manager in that hour.
        mails = desk.inbox(desk.manager)
        return ([m for m in mails if "Новая задача" in m["Subject"]],
                [m for m in mails if "не отправлено" in m["Subject"]])

    run.advance(hours=1, minutes=1)
    notifications, digests = task_mail()
    assert len(notifications) == 10 and len(digests) == 1
    body = _text(digests[0])
    assert "Не отправлено: 40" in body and "OA-11" in body
    # A second tick owes nothing more.
    run.advance(minutes=5)
    assert [len(x) for x in task_mail()] == [10, 1]


def test_join_replies_are_capped_for_all_senders_together(desk):
    """30 strangers in an hour (as forged senders would be): at most join_replies_per_hour
    "how to join" replies, here 5; every mail is still recorded."""
    _with_service_keys(desk, join_replies_per_hour=5)
    strangers = [desk.new_user("stranger") for _ in range(30)]
    for who in strangers:
        desk.deliver(client_mail(who, desk.support, "Хочу подключиться", "Как?"))
    desk.run_once()
    answered = [who for who in strangers if desk.inbox(who)]
    assert len(answered) == 5
    outcomes = [e.outcome for e in SpoolEntry.select()]
    assert outcomes.count("unknown-join") == 5 and outcomes.count("unknown-capped") == 25


def test_no_join_reply_where_our_mx_saw_spf_and_dmarc_fail(desk):
    """A stranger whose mail our MX marked spf=fail and dmarc=fail is most likely forged:
    no reply (no backscatter). The same failures under an untrusted authserv-id, or SPF
    alone failing, still get the reply."""
    forged, untrusted, forwarded = (desk.new_user("stranger") for _ in range(3))
    for who, header in (
        (forged, "mx.desk.test; spf=fail smtp.mailfrom={d}; dmarc=fail header.from={d}"),
        (untrusted, "mx.evil.test; spf=fail smtp.mailfrom={d}; dmarc=fail header.from={d}"),
        (forwarded, "mx.desk.test; spf=fail smtp.mailfrom={d}; dkim=pass header.d={d}; "
                    "dmarc=pass header.from={d}"),
    ):
        domain = who.split("@")[1]
        desk.deliver(f"Authentication-Results: {header.format(d=domain)}\r\n".encode()
                     + client_mail(who, desk.support, "Хочу подключиться", "Как?"))
    desk.run_once()
    assert desk.inbox(forged) == []
    assert len(desk.inbox(untrusted)) == 1 and len(desk.inbox(forwarded)) == 1
    assert SpoolEntry.select().where(SpoolEntry.outcome == "unknown-forged").count() == 1


def test_caps_are_per_source(desk):
    """Another sender's alerts are not held because of the first sender's flood."""
    client = desk.add_client()
    desk.deliver(client_mail(client, desk.support, "Задача", "Текст"))
    desk.run_once()
    notice = desk.latest(desk.manager)
    for _ in range(4):
        desk.deliver(reply_to(notice, desk.manager, "#done", to=desk.support))
    desk.deliver(reply_to(notice, desk.manager2, "#done", to=desk.support, name="Борис"))
    Service(desk.settings).run_once()
    alerts = desk.inbox(desk.admin)
    assert len(alerts) == 4
    assert sum(desk.manager2 in _text(a) for a in alerts) == 1
