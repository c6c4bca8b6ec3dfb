"""Operating facts: what the runners record for `status` and the metrics, and the one read
that gathers a DeskHealth (issue 13).

Every value is a row of the store, never a variable of a process: `oneassist status`
runs in a process of its own, the metrics are right after a restart, and a fetcher,
an outbox and a scheduler in separate processes all count into the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import peewee

from daemon.core import notice_kinds as kinds
from daemon.core.health import DeskHealth, TokenState
from store.db import from_db, to_db, write_transaction
from store.models import OpsState, Outbox, SpoolEntry, Ticket
from store.proxy import database

FETCH_OK = "imap.fetch_ok"
IMAP_UP = "imap.up"
SEND_PREFIX = "send."
TOKEN_PREFIX = "token."
ACK_PREFIX = "ack_latency."
# Upper bounds of the ack-latency histogram, in seconds (INTERNALDATE -> the SMTP 250).
ACK_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
RECENT_DAYS = 7
ACK_KIND = kinds.ACK


def _bump(name: str, by: float, now: datetime) -> None:
    """Add to a counter row, creating it; one statement, so concurrent writers never lose a count."""
    (OpsState.insert(name=name, value=by, at=to_db(now), text="")
     .on_conflict(conflict_target=[OpsState.name],
                  update={OpsState.value: OpsState.value + by, OpsState.at: to_db(now)})
     .execute())


def _set_state(name: str, value: float, now: datetime, text: str = "") -> None:
    """A state row: `at` moves only when the value changes (it says since when)."""
    changed = (OpsState.update(value=value, at=to_db(now), text=text[:500])
               .where(OpsState.name == name, OpsState.value != value).execute())
    if not changed:
        OpsState.insert(name=name, value=value, at=to_db(now), text=text[:500]).on_conflict_ignore().execute()
        if text:
            OpsState.update(text=text[:500]).where(OpsState.name == name).execute()


def note_fetch_ok(now: datetime) -> None:
    """The fetcher talked to the IMAP server without an error (a pass or an IDLE wait)."""
    with write_transaction():
        _bump(FETCH_OK, 1, now)
        _set_state(IMAP_UP, 1, now)


def note_imap_down(error: str, now: datetime) -> None:
    """The fetcher lost or could not make its connection; `error` names why, for people."""
    with write_transaction():
        _set_state(IMAP_UP, 0, now, error)


def note_token(protocol: str, *, ok: bool, expires_at: datetime | None, error: str, now: datetime) -> None:
    """The outcome of one run of an OAuth2 token command; `at` holds the expiry when known."""
    with write_transaction():
        (OpsState.insert(name=TOKEN_PREFIX + protocol, value=1 if ok else 0,
                         at=to_db(expires_at), text=error[:500])
         .on_conflict(conflict_target=[OpsState.name],
                      update={OpsState.value: 1 if ok else 0, OpsState.at: to_db(expires_at),
                              OpsState.text: error[:500]})
         .execute())


def token_failed_before(protocol: str) -> bool:
    """Did the last recorded run of this token command fail? (One alert per failure spell.)"""
    row = OpsState.get_or_none(OpsState.name == TOKEN_PREFIX + protocol)
    return row is not None and not row.value


def bucket_of(seconds: float) -> str:
    for bound in ACK_BUCKETS:
        if seconds <= bound:
            return f"{bound:g}"
    return "+Inf"


def record_sends(results: Mapping[str, int], acked_tickets: Iterable[int], now: datetime) -> None:
    """Count one outbox pass's results and the latency of each ack it delivered.

    Runs inside the pass's own write transaction, so a count commits with the result it
    counts. An ack's latency runs from the INTERNALDATE of the first mail of its ticket
    (the task it acknowledges) to now, the SMTP server's 250.
    """
    for result, count in results.items():
        if count:
            _bump(SEND_PREFIX + result, count, now)
    tickets = list(acked_tickets)
    if not tickets:
        return
    query = (SpoolEntry.select(SpoolEntry.ticket, peewee.fn.MIN(SpoolEntry.internaldate))
             .where(SpoolEntry.ticket.in_(tickets)).group_by(SpoolEntry.ticket).tuples())
    for _ticket, arrived in query:
        start = from_db(arrived)
        if start is None:
            continue
        latency = max(0.0, (now - start).total_seconds())
        _bump(ACK_PREFIX + bucket_of(latency), 1, now)
        _bump(ACK_PREFIX + "sum", latency, now)
        _bump(ACK_PREFIX + "count", 1, now)


def ops_rows() -> dict[str, OpsState]:
    return {row.name: row for row in OpsState.select()}


def health(now: datetime, day_start: datetime) -> DeskHealth:
    """Everything `status` judges, read in one snapshot (`day_start`: today's midnight, local)."""
    recent = to_db(now - timedelta(days=RECENT_DAYS))
    with database.atomic():  # one read snapshot: every count from the same moment
        rows = ops_rows()
        pending = (SpoolEntry.select(peewee.fn.COUNT(SpoolEntry.id), peewee.fn.MIN(SpoolEntry.fetched_at))
                   .where(SpoolEntry.state == "pending").tuples().get())
        outbox = dict(Outbox.select(Outbox.status, peewee.fn.COUNT(Outbox.id)).group_by(Outbox.status).tuples())
        oldest_unsent = (Outbox.select(peewee.fn.MIN(Outbox.created_at))
                         .where(Outbox.status.in_(("pending", "sending"))).scalar())
        dead_recent = Outbox.select().where(Outbox.status == "dead", Outbox.created_at >= recent).count()
        quarantined = SpoolEntry.select().where(SpoolEntry.state == "quarantined").count()
        quarantined_recent = (SpoolEntry.select()
                              .where(SpoolEntry.state == "quarantined", SpoolEntry.fetched_at >= recent).count())
        breaches = Ticket.select().where(Ticket.breached_at >= to_db(day_start)).count()
    up = rows.get(IMAP_UP)
    fetch = rows.get(FETCH_OK)
    tokens = tuple(TokenState(protocol=name[len(TOKEN_PREFIX):], ok=bool(row.value), expires_at=from_db(row.at),
                              error=row.text, at=None)
                   for name, row in sorted(rows.items()) if name.startswith(TOKEN_PREFIX))
    return DeskHealth(
        now=now, fetch_ok_at=from_db(fetch.at) if fetch else None,
        imap_up=None if up is None else bool(up.value), imap_since=from_db(up.at) if up else None,
        imap_error=up.text if up else "", spool_pending=pending[0] or 0, spool_oldest=from_db(pending[1]),
        outbox=outbox, outbox_oldest_unsent=from_db(oldest_unsent), dead_recent=dead_recent,
        quarantined=quarantined, quarantined_recent=quarantined_recent, breaches_today=breaches,
        tokens=tokens,
    )
