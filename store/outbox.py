"""The outbox queue: rendered mails in, claimed batches out, each attempt's outcome recorded.

A row is 'sending' while its SMTP transaction runs, leased to one node until
`lease_until`. A row still 'sending' after its lease ran out was interrupted between
the server's reply and our update (the RFC 1047 window): requeue_expired() puts it
back, counted in `resends`, to be sent again with the same bytes and Message-ID. Any
daemon on the store does that, periodically; a live daemon's rows are never touched.
Only a daemon that owns the whole store (SQLite, under its lock) may requeue every
'sending' row at start (requeue_interrupted()).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import peewee

from daemon.core.model import OutboundMail
from store import prepared
from store.db import from_db, is_postgres, to_db, write_transaction
from store.models import Outbox, OutboxBody, Ticket

# A claimed batch is held in memory while it is sent: staff notices carry the
# client's files, and fifty of them at once would be the daemon's peak RSS.
CLAIM_BYTES = 2 * 1024 * 1024


@dataclass
class Claimed:
    """One claimed outbox row: what sending needs, and the bookkeeping the sender updates."""

    id: int
    kind: str
    envelope_from: str
    recipients: tuple[str, ...]
    ticket_id: int | None
    ticket_key: str | None
    attempts: int
    resends: int
    status: str = "sending"
    last_error: str = ""
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None


class OutboxRow(NamedTuple):
    """A new outbox row (fields in peewee's binding order; store.prepared checks it)."""

    message_id: str
    ticket: int | None
    kind: str
    envelope_from: str
    recipients: str
    status: str
    attempts: int
    resends: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    claimed_by: str


class OutboxBodyRow(NamedTuple):
    outbox: int
    raw: bytes


def _insert_outbox(row: OutboxRow) -> peewee.Query:
    return Outbox.insert(**row._asdict())


def _insert_outbox_body(row: OutboxBodyRow) -> peewee.Query:
    return OutboxBody.insert(**row._asdict())


def enqueue(mail: OutboundMail, now: datetime) -> int:
    """The outbox row of a rendered mail, due now; returns its id. Runs in the caller's transaction."""
    outbox_id = prepared.insert_row(_insert_outbox, OutboxRow(
        message_id=mail.message_id, ticket=mail.ticket_id, kind=mail.kind, envelope_from=mail.envelope_from,
        recipients="\n".join(mail.recipients), status="dead" if mail.parked else "pending", attempts=0,
        resends=0, next_attempt_at=to_db(now), last_error=mail.parked, created_at=to_db(now), claimed_by=""))
    prepared.execute_row(_insert_outbox_body, OutboxBodyRow(outbox=outbox_id, raw=mail.raw))
    return outbox_id


def requeue_interrupted(node: str | None = None) -> int:
    """Rows left 'sending' by a crash (of `node`, or of anyone) back to 'pending'; returns how many.

    Without `node`, only for a daemon that owns the store: another daemon's live sends
    would be sent twice."""
    query = Outbox.update(status="pending", resends=Outbox.resends + 1, lease_until=None).where(
        Outbox.status == "sending")
    if node is not None:
        query = query.where(Outbox.claimed_by == node)
    return query.execute()


def requeue_expired(now: datetime | None = None) -> int:
    """Rows whose sender's lease ran out (it died, or lost the store) back to 'pending'.

    A row with no lease at all is one an older version left 'sending': expired too."""
    at = to_db(now or datetime.now(UTC))
    with write_transaction():
        return (Outbox.update(status="pending", resends=Outbox.resends + 1, lease_until=None)
                .where(Outbox.status == "sending",
                       Outbox.lease_until.is_null() | (Outbox.lease_until <= at)).execute())


def claim(now: datetime, node: str, limit: int, max_bytes: int = CLAIM_BYTES,
          lease_seconds: int = 120) -> list[Claimed]:
    """Mark up to `limit` due rows 'sending' for `node`, oldest due first, within `max_bytes`
    of mail (a batch always takes its first row, however big); the claim is a lease of
    `lease_seconds` on wall time (leases are between processes, `now` may be a test clock)."""
    until = to_db(datetime.now(UTC) + timedelta(seconds=lease_seconds))
    with write_transaction():
        query = (Outbox.select(Outbox.id, peewee.fn.LENGTH(OutboxBody.raw)).join(OutboxBody)
                 .where(Outbox.status == "pending", Outbox.next_attempt_at <= to_db(now))
                 .order_by(Outbox.next_attempt_at, Outbox.id).limit(limit))
        if is_postgres():
            # Two daemons never claim the same row (two daemons may share one PostgreSQL store).
            query = query.for_update("FOR UPDATE SKIP LOCKED")
        ids, total = [], 0
        for row_id, size in query.tuples():
            if ids and total + size > max_bytes:
                break
            ids.append(row_id)
            total += size
        if not ids:
            return []
        (Outbox.update(status="sending", claimed_by=node, lease_until=until)
         .where(Outbox.id.in_(ids), Outbox.status == "pending").execute())
        rows = (Outbox.select(Outbox.id, Outbox.kind, Outbox.envelope_from, Outbox.recipients, Outbox.ticket,
                              Ticket.key, Outbox.attempts, Outbox.resends, Outbox.last_error,
                              Outbox.sent_at, Outbox.next_attempt_at)
                .join(Ticket, peewee.JOIN.LEFT_OUTER)
                .where(Outbox.id.in_(ids), Outbox.claimed_by == node, Outbox.status == "sending")
                .order_by(Outbox.id).tuples())
        return [Claimed(id=i, kind=kind, envelope_from=sender, recipients=tuple(to.split("\n")), ticket_id=t,
                        ticket_key=key, attempts=attempts, resends=resends, last_error=error,
                        sent_at=from_db(sent), next_attempt_at=from_db(due))
                for i, kind, sender, to, t, key, attempts, resends, error, sent, due in rows]


def renew_leases(node: str, ids: list[int], lease_seconds: int) -> int:
    """Extend `node`'s leases on rows it is still sending."""
    if not ids:
        return 0
    until = to_db(datetime.now(UTC) + timedelta(seconds=lease_seconds))
    return (Outbox.update(lease_until=until)
            .where(Outbox.id.in_(ids), Outbox.claimed_by == node, Outbox.status == "sending").execute())


def bodies_of(ids: list[int]) -> dict[int, bytes]:
    """The raw bytes of outbox rows, by id."""
    query = OutboxBody.select(OutboxBody.outbox, OutboxBody.raw).where(OutboxBody.outbox.in_(ids)).tuples()
    return {outbox_id: bytes(raw) for outbox_id, raw in query}


def record_attempt(row: Claimed) -> None:
    """Write back one send attempt's bookkeeping and release the claim."""
    # Only the bookkeeping columns: the mail's bytes are never written again.
    (Outbox.update(status=row.status, sent_at=to_db(row.sent_at), last_error=row.last_error,
                   attempts=row.attempts, claimed_by="", lease_until=None, resends=row.resends,
                   next_attempt_at=to_db(row.next_attempt_at))
     .where(Outbox.id == row.id).execute())


def any_due(now: datetime) -> bool:
    """Is a pending row due at `now`? (A batch cut short by CLAIM_BYTES leaves some behind.)"""
    return Outbox.select(Outbox.id).where(Outbox.status == "pending",
                                          Outbox.next_attempt_at <= to_db(now)).exists()


def id_of(message_id: str) -> int | None:
    """The outbox row of a Message-ID (a parked notice's, for the admin alert)."""
    row = Outbox.select(Outbox.id).where(Outbox.message_id == message_id).first()
    return row.id if row else None
