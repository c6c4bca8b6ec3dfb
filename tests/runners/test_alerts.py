"""An alert raised outside a decision meets the flood cap its kind's rate-limit class names."""

from dataclasses import replace

from daemon.core import notice_kinds as kinds
from daemon.core.model import Notice
from daemon.core.notice_kinds import RateClass
from daemon.core.workflow import FloodCaps
from daemon.render.notices import Notifier
from daemon.runners.alerts import send_capped
from store.db import write_transaction
from store.models import NoticeWindow, Outbox

CAPS = FloodCaps(alerts_per_source=3)


def _alert() -> Notice:
    context = (("spool_id", 1), ("mailbox", "INBOX"), ("uidvalidity", 1), ("uid", 1), ("size", 10),
               ("sha256", "ab" * 32), ("reason", "boom"), ("attempts", 3))
    return Notice(template=kinds.QUARANTINE, to=("ops@desk.test",), language="en", autoreply=False,
                  context=context)


def _send(desk, times: int) -> list[bool]:
    notifier, now = Notifier(desk.settings), desk.clock.now()
    out = []
    for i in range(times):
        with write_transaction():
            out.append(send_capped(_alert(), "mallory@evil.test", f"spool #{i}", CAPS, notifier, now))
    return out


def test_an_alert_class_kind_is_held_past_its_cap_and_counted(desk):
    assert _send(desk, 5) == [True, True, True, False, False]
    assert Outbox.select().count() == 3
    window = NoticeWindow.get()
    assert (window.kind, window.source, window.sent, window.held) == (kinds.QUARANTINE, "mallory@evil.test", 3, 2)


def test_a_kind_whose_class_is_not_capped_is_sent_and_counted_nowhere(desk, monkeypatch):
    monkeypatch.setattr(kinds.QUARANTINE, "rate", RateClass.NONE)
    assert _send(desk, 5) == [True] * 5
    assert Outbox.select().count() == 5
    assert NoticeWindow.select().count() == 0


def test_a_source_longer_than_its_column_is_still_capped(desk):
    # Stored cut to 320 characters; looked up the same way, or each mail would open a new window.
    notifier, now, source = Notifier(desk.settings), desk.clock.now(), "m" * 400 + "@evil.test"
    out = []
    for i in range(5):
        with write_transaction():
            out.append(send_capped(_alert(), source, f"spool #{i}", CAPS, notifier, now))
    assert out == [True, True, True, False, False]
    assert NoticeWindow.select().count() == 1


def test_the_store_counts_only_kinds_whose_class_has_windows(desk):
    import pytest

    from store import floods

    ack = Notice(template=kinds.ACK, to=("ivan@client.test",), language="ru", source="ivan@client.test")
    with pytest.raises(ValueError, match="client.notice.ack .rate class none"):
        floods.count_sent(ack, desk.clock.now())
    with pytest.raises(ValueError, match="is not counted in a flood window"):
        floods.count_held(replace(_alert(), source=""), "spool #1", desk.clock.now())
    assert NoticeWindow.select().count() == 0
