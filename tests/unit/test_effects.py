"""Effects: every kind has its handler, and the money view follows a decision's effects."""

import dataclasses
import typing
from datetime import UTC, datetime
from decimal import Decimal

from daemon.core import effects as fx
from daemon.core import notice_kinds as kinds
from daemon.core.model import MoneyView, Notice, Route
from store.apply import HANDLERS
from tests.decisions import events, has, held, notices, ticket_changes

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


def test_a_decision_is_its_outcome_route_and_effects_read_by_kind():
    # No second copy of what the effects say (issue 10): a question is asked of the effects.
    assert [f.name for f in dataclasses.fields(fx.Decision)] == ["outcome", "route", "effects"]
    a, b = (Notice(template=t, to=("x@y",), language="ru") for t in (kinds.ACK, kinds.STAFF_TICKET))
    d = fx.Decision("x", Route("client_reply"), (fx.SetFields((("status", "open"),)), fx.RecordMessage(),
                                                 fx.SendNotice(a), fx.HoldNotice(b), fx.RecordEvent("k", "v")))
    assert d.of(fx.SendNotice) == (fx.SendNotice(a),) and d.of(fx.HoldNotice) == (fx.HoldNotice(b),)
    assert notices(d) == (a,) and held(d) == (b,) and events(d) == (("k", "v"),)
    assert ticket_changes(d) == (("status", "open"),) and has(d, fx.RecordMessage) and not has(d, fx.OpenTicket)
