"""store.outbox.claim: a batch stops at its byte budget, so big mails are held one at a time."""

from datetime import UTC, datetime

from daemon.core.model import OutboundMail
from store.apply import enqueue
from store.db import write_transaction
from store.models import Outbox
from store.outbox import bodies_of, claim

NOW = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
MIB = 1024 * 1024


def queue(*sizes: int) -> list[int]:
    with write_transaction():
        return [enqueue(OutboundMail(f"m{i}@desk.test", "b@desk.test", ("c@x.test",), bytes([65 + i]) * size,
                                     "staff.notice.ticket"), NOW) for i, size in enumerate(sizes)]


def test_claims_stop_at_the_byte_budget_but_never_starve(desk):
    ids = queue(3 * MIB, 1 * MIB, 1 * MIB, 10)
    batches = []
    while rows := claim(NOW, "node", 50, max_bytes=2 * MIB + 100):
        batches.append([r.id for r in rows])
    # The 3 MiB mail alone (over the budget, but a batch always takes its first row),
    # then 1 + 1 MiB + 10 bytes, which fit.
    assert batches == [[ids[0]], [ids[1], ids[2], ids[3]]]
    assert Outbox.select().where(Outbox.status == "sending").count() == 4
    assert bodies_of([ids[3]]) == {ids[3]: b"D" * 10}


def test_small_mails_fill_the_row_limit(desk):
    ids = queue(*([100] * 5))
    assert [r.id for r in claim(NOW, "node", 3)] == ids[:3]
