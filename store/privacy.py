"""One client's data: everything the desk holds about them, and its erasure (152-FZ, issue 13).

What belongs to a client: their Client row and addresses; their tickets with the timeline,
events, timers (a #remind's text is in Timer.data), quota uses; every spooled mail of those
tickets or from their addresses (staff mail on their tickets quotes them), with its raw
bytes and attachments; every outgoing mail of their tickets or to their addresses (staff
notices and transcripts carry their text), with its body; the auto-reply log and flood-cap
windows keyed by their address; and events that name an address of theirs.

Erasure deletes all of that in one transaction. Invoices and the deposit ledger stay, as
accounting law requires, detached from the deleted tickets, and the Client row stays for
them with the name and address replaced. On SQLite the deleted content is overwritten
(PRAGMA secure_delete) and the WAL is checkpointed and truncated, so the bytes are not
left in free pages or old WAL frames.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import peewee

from store.db import write_transaction
from store.models import (
    AttachmentMeta,
    AutoReplyLog,
    Client,
    ClientAddress,
    Event,
    Invoice,
    LedgerEntry,
    Message,
    NoticeWindow,
    Outbox,
    OutboxBody,
    QuotaUse,
    SpoolBody,
    SpoolEntry,
    Ticket,
    Timer,
)
from store.proxy import database

ERASED_DOMAIN = "erased.invalid"


@dataclass
class Holdings:
    """The ids of every row that belongs to one client."""

    client: Client
    addresses: list[str]
    tickets: list[int] = field(default_factory=list)
    spool: list[int] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)


def _chunks(ids: list[int], size: int = 500):
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _sent_to(addresses: list[str]) -> list[int]:
    """Outbox rows with one of `addresses` among their recipients (matched exactly, not by LIKE)."""
    found = []
    wanted = {a.lower() for a in addresses}
    for address in addresses:
        # LIKE narrows; the exact split decides (an address may hold '_' or '%').
        rows = Outbox.select(Outbox.id, Outbox.recipients).where(Outbox.recipients.contains(address)).tuples()
        found += [i for i, to in rows if wanted & {r.lower() for r in to.split("\n")}]
    return found


def holdings_of(client: Client) -> Holdings:
    addresses = sorted({client.email, *(a for (a,) in ClientAddress.select(ClientAddress.email)
                                        .where(ClientAddress.client == client).tuples())})
    held = Holdings(client, addresses)
    held.tickets = [i for (i,) in Ticket.select(Ticket.id).where(Ticket.client == client).tuples()]
    spool = set()
    for chunk in _chunks(held.tickets):
        spool |= {i for (i,) in SpoolEntry.select(SpoolEntry.id).where(SpoolEntry.ticket.in_(chunk)).tuples()}
    spool |= {i for (i,) in SpoolEntry.select(SpoolEntry.id)
              .where(peewee.fn.LOWER(SpoolEntry.sender).in_([a.lower() for a in addresses])).tuples()}
    held.spool = sorted(spool)
    outbox = set(_sent_to(addresses))
    for chunk in _chunks(held.tickets):
        outbox |= {i for (i,) in Outbox.select(Outbox.id).where(Outbox.ticket.in_(chunk)).tuples()}
    held.outbox = sorted(outbox)
    return held


def spool_rows(ids: list[int]) -> list[tuple[SpoolEntry, bytes]]:
    """Spooled mails with their raw bytes (empty for a mail left on the server as oversized)."""
    bodies = {}
    for chunk in _chunks(ids):
        bodies.update({e: bytes(r) for e, r in SpoolBody.select(SpoolBody.entry, SpoolBody.raw)
                       .where(SpoolBody.entry.in_(chunk)).tuples()})
    rows = []
    for chunk in _chunks(ids):
        rows += [(e, bodies.get(e.id, b"")) for e in SpoolEntry.select().where(SpoolEntry.id.in_(chunk))]
    return rows


def outbox_rows(ids: list[int]) -> list[tuple[Outbox, bytes]]:
    bodies = {}
    rows = []
    for chunk in _chunks(ids):
        bodies.update({o: bytes(r) for o, r in OutboxBody.select(OutboxBody.outbox, OutboxBody.raw)
                       .where(OutboxBody.outbox.in_(chunk)).tuples()})
        rows += list(Outbox.select().where(Outbox.id.in_(chunk)))
    return [(row, bodies.get(row.id, b"")) for row in rows]


def invoices_of(client: Client) -> list[Invoice]:
    return list(Invoice.select().where(Invoice.client == client).order_by(Invoice.id))


def autoreplies_to(addresses: list[str]) -> list[AutoReplyLog]:
    return list(AutoReplyLog.select().where(AutoReplyLog.address.in_(addresses)).order_by(AutoReplyLog.id))


def _events_naming(addresses: list[str]) -> list[int]:
    found = set()
    for address in addresses:
        found |= {i for (i,) in Event.select(Event.id).where(Event.detail.contains(address)).tuples()}
    return sorted(found)


def _delete_in(model, column, ids: list[int]) -> int:
    count = 0
    for chunk in _chunks(ids):
        count += model.delete().where(column.in_(chunk)).execute()
    return count


def delete_rows(tickets: list[int], spool: list[int], outbox: list[int]) -> dict[str, int]:
    """Delete tickets with their timeline, events, timers and quota uses, and the spool and
    outbox rows named, bodies included; invoices and the ledger stay, detached. Returns counts.

    The caller holds a write transaction (erase_client below, store/retention.py).
    """
    messages = []
    for chunk in _chunks(tickets):
        messages += [i for (i,) in Message.select(Message.id).where(Message.ticket.in_(chunk)).tuples()]
    for chunk in _chunks(spool):
        messages += [i for (i,) in Message.select(Message.id).where(Message.spool.in_(chunk)).tuples()]
    messages = sorted(set(messages))
    counts = {
        "attachments": _delete_in(AttachmentMeta, AttachmentMeta.message, messages),
        "messages": _delete_in(Message, Message.id, messages),
        "events": _delete_in(Event, Event.ticket, tickets),
        "timers": _delete_in(Timer, Timer.ticket, tickets),
        "quota_uses": _delete_in(QuotaUse, QuotaUse.ticket, tickets),
    }
    _delete_in(OutboxBody, OutboxBody.outbox, outbox)
    counts["outbox"] = _delete_in(Outbox, Outbox.id, outbox)
    _delete_in(SpoolBody, SpoolBody.entry, spool)
    counts["spool"] = _delete_in(SpoolEntry, SpoolEntry.id, spool)
    # What accounting keeps outlives the ticket it was about.
    for chunk in _chunks(tickets):
        Invoice.update(ticket=None).where(Invoice.ticket.in_(chunk)).execute()
        LedgerEntry.update(ticket=None).where(LedgerEntry.ticket.in_(chunk)).execute()
        # Other rows that point at a deleted ticket (a spool entry of another sender, say).
        SpoolEntry.update(ticket=None).where(SpoolEntry.ticket.in_(chunk)).execute()
        Outbox.update(ticket=None).where(Outbox.ticket.in_(chunk)).execute()
    counts["tickets"] = _delete_in(Ticket, Ticket.id, tickets)
    return counts


def erase(held: Holdings) -> dict[str, int]:
    """Delete what `held` names and anonymise the Client row; returns counts.

    The caller holds a write transaction (erase_client below).
    """
    counts = delete_rows(held.tickets, held.spool, held.outbox)
    counts["events"] += _delete_in(Event, Event.id, _events_naming(held.addresses))
    counts["quota_uses"] += QuotaUse.delete().where(QuotaUse.client == held.client).execute()
    counts["autoreplies"] = AutoReplyLog.delete().where(AutoReplyLog.address.in_(held.addresses)).execute()
    counts["notice_windows"] = NoticeWindow.delete().where(NoticeWindow.source.in_(held.addresses)).execute()
    counts["addresses"] = ClientAddress.delete().where(ClientAddress.client == held.client).execute()
    cid = held.client.id
    Client.update(name=f"erased client {cid}", email=f"client-{cid}@{ERASED_DOMAIN}", active=False) \
        .where(Client.id == cid).execute()
    return counts


def erase_client(client: Client, checkpoint_tries: int = 20) -> tuple[dict[str, int], bool]:
    """Erase one client; returns the counts and whether no old copy is left in the files.

    On SQLite, secure_delete makes SQLite overwrite what it deletes (cells, freed pages,
    overflow pages of raw mail) instead of only unlinking it, and a TRUNCATE checkpoint
    copies the overwritten pages into the database file and empties the WAL, where the
    older page images were. A running daemon's readers can hold the checkpoint back for a
    moment: it is tried again, and the caller says so if it never completed.
    """
    sqlite = isinstance(database.obj, peewee.SqliteDatabase)
    if sqlite:
        database.execute_sql("PRAGMA secure_delete = ON")
    with write_transaction():
        counts = erase(holdings_of(Client.get_by_id(client.id)))
    if not sqlite:
        return counts, True
    for _ in range(checkpoint_tries):
        busy, _log, _done = database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return counts, True
        time.sleep(0.25)
    return counts, False
