"""Retention: raw mail and old tickets purged on a schedule (`[retention]`, issue 13).

Two horizons, both counted from when a ticket closed (an open ticket keeps everything):
- raw_mail_days: the raw bytes of its spooled mails (attachments are inside them) and the
  bodies of its sent or dead outgoing mail go; the ticket, its timeline text, its
  attachments' names and sizes stay, and `ticket show` reads as before;
- ticket_days: the ticket goes with everything it holds (store/privacy.py delete_rows);
  invoices and the ledger stay, detached.
Mail that made no ticket (strangers, robots, quarantine) and mail the desk sent without a
ticket (alerts, join replies) age from when they were processed or created. Each pass
handles at most BATCH tickets so the write lock is never held for long; the scheduler
comes back for the rest.
"""

from __future__ import annotations

from datetime import datetime

from store.db import to_db, write_transaction
from store.models import AutoReplyLog, Outbox, OutboxBody, SpoolBody, SpoolEntry, Ticket
from store.privacy import delete_rows

BATCH = 200
FINISHED = ("sent", "dead")


def _ids(query) -> list[int]:
    return [i for (i,) in query.tuples()]


def purge(now: datetime, raw_before: datetime, tickets_before: datetime) -> dict[str, int]:
    """One pass; returns what it purged. Repeated passes converge (each is idempotent)."""
    raw_cut, ticket_cut = to_db(raw_before), to_db(tickets_before)
    with write_transaction():
        old = _ids(Ticket.select(Ticket.id).where(Ticket.closed_at < ticket_cut).limit(BATCH))
        spool = _ids(SpoolEntry.select(SpoolEntry.id).where(SpoolEntry.ticket.in_(old))) if old else []
        spool += _ids(SpoolEntry.select(SpoolEntry.id).where(
            SpoolEntry.ticket.is_null(), SpoolEntry.state != "pending",
            SpoolEntry.processed_at < ticket_cut).limit(BATCH))
        outbox = _ids(Outbox.select(Outbox.id).where(Outbox.ticket.in_(old))) if old else []
        outbox += _ids(Outbox.select(Outbox.id).where(
            Outbox.ticket.is_null(), Outbox.status.in_(FINISHED), Outbox.created_at < ticket_cut).limit(BATCH))
        counts = delete_rows(old, spool, outbox) if (old or spool or outbox) else {}

        closed = Ticket.select(Ticket.id).where(Ticket.closed_at < raw_cut)
        raw_spool = _ids(SpoolBody.select(SpoolBody.entry).join(SpoolEntry).where(
            (SpoolEntry.ticket.in_(closed)) | (SpoolEntry.ticket.is_null() & (SpoolEntry.state != "pending")
                                               & (SpoolEntry.processed_at < raw_cut))).limit(BATCH))
        raw_outbox = _ids(OutboxBody.select(OutboxBody.outbox).join(Outbox).where(
            Outbox.status.in_(FINISHED),
            (Outbox.ticket.in_(closed)) | (Outbox.ticket.is_null() & (Outbox.created_at < raw_cut))).limit(BATCH))
        if raw_spool:
            counts["raw_spool"] = SpoolBody.delete().where(SpoolBody.entry.in_(raw_spool)).execute()
        if raw_outbox:
            counts["raw_outbox"] = OutboxBody.delete().where(OutboxBody.outbox.in_(raw_outbox)).execute()
        # The per-address acknowledgement cap looks back one day; older rows only hold addresses.
        counts["autoreplies"] = AutoReplyLog.delete().where(AutoReplyLog.sent_at < raw_cut).execute()
    return {k: v for k, v in counts.items() if v}
