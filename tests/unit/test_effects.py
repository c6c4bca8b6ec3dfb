"""Effects: every kind has its handler, and the money view follows a decision's effects."""

import typing
from datetime import UTC, datetime
from decimal import Decimal

from daemon.core import effects as fx
from daemon.core.model import MoneyView, Notice, Route
from store.apply import HANDLERS

THIS = datetime(2026, 11, 1, tzinfo=UTC)
NEXT = datetime(2026, 12, 1, tzinfo=UTC)


def test_every_effect_kind_has_exactly_one_handler():
    assert set(typing.get_args(fx.Effect)) == set(HANDLERS)


def test_money_view_follows_count_release_and_ledger():
    view = MoneyView(period_start=THIS, quota=3, quota_used=1, deposit=Decimal("100.00"), currency="RUB")
    assert view.counted(THIS).quota_used == 2
    # A count in the next period leaves this period's "tasks left" alone.
    assert view.counted(NEXT).quota_used == 1
    assert view.booked(Decimal("-30.00")).deposit == Decimal("70.00")
    counted_here = MoneyView(THIS, 3, 2, Decimal("0"), "RUB", ticket_counted_in=THIS)
    assert counted_here.released().quota_used == 1
    counted_next = MoneyView(THIS, 3, 2, Decimal("0"), "RUB", ticket_counted_in=NEXT)
    assert counted_next.released().quota_used == 2


def test_decision_views_read_the_effects_in_order():
    a, b = (Notice(template=t, to=("x@y",), language="ru") for t in ("client.notice.ack", "staff.notice.ticket"))
    d = fx.Decision("x", Route("client_reply"), (fx.SetFields((("status", "open"),)), fx.RecordMessage(),
                                                 fx.SendNotice(a), fx.HoldNotice(b), fx.RecordEvent("k", "v")))
    assert d.notices == (a,) and d.held == (b,) and d.events == (("k", "v"),)
    assert d.ticket_changes == (("status", "open"),) and d.record_message and not d.create_ticket
