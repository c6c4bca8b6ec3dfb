"""The spool: raw fetched mail, keyed on (account, mailbox, UIDVALIDITY, UID).

put_many() commits before the caller moves the server copy (docs/style.md rule 3);
the unique key absorbs a mail fetched again after a crash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from peewee import fn

from store import prepared
from store.apply_counters import next_number
from store.claims import lanes_of
from store.db import from_db, to_db, write_transaction
from store.models import FolderState, OnceKey, SpoolBody, SpoolEntry, Ticket
from store.once import quarantine_alert_key

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    internaldate: datetime | None


def known_uids(account: str, mailbox: str, uidvalidity: int, uids: Iterable[int]) -> set[int]:
    wanted = list(uids)
    found: set[int] = set()
    # Chunks keep the IN list under SQLite's variable limit.
    for i in range(0, len(wanted), 500):
        chunk = wanted[i:i + 500]
        query = (SpoolEntry.select(SpoolEntry.uid)
                 .where(SpoolEntry.account == account, SpoolEntry.mailbox == mailbox,
                        SpoolEntry.uidvalidity == uidvalidity, SpoolEntry.uid.in_(chunk)))
        found.update(row.uid for row in query)
    return found


def put_many(account: str, mailbox: str, uidvalidity: int, items: list[Fetched], now: datetime) -> int:
    """Store fetched mails in one transaction; returns how many were new."""
    if not items:
        return 0
    raw_by_uid = {item.uid: item.raw for item in items}
    with write_transaction():
        # The lane keeps one client's mails in order among several workers (store/claims.py).
        lanes = lanes_of(item.raw for item in items)
        rows = [{
            "account": account, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": item.uid,
            "sha256": hashlib.sha256(item.raw).hexdigest(), "size": len(item.raw),
            "internaldate": to_db(item.internaldate), "state": "pending", "fetched_at": to_db(now),
            "lane": lane[:320],
        } for item, lane in zip(items, lanes, strict=True)]
        already = known_uids(account, mailbox, uidvalidity, raw_by_uid)
        fresh = [row for row in rows if row["uid"] not in already]
        for i in range(0, len(fresh), 50):
            # A concurrent fetcher may have won the race: the unique key makes it a no-op.
            SpoolEntry.insert_many(fresh[i:i + 50]).on_conflict_ignore().execute()
        last = None
        for i in range(0, len(fresh), 50):
            uids = [row["uid"] for row in fresh[i:i + 50]]
            ids = (SpoolEntry.select(SpoolEntry.id, SpoolEntry.uid)
                   .where(SpoolEntry.account == account, SpoolEntry.mailbox == mailbox,
                          SpoolEntry.uidvalidity == uidvalidity, SpoolEntry.uid.in_(uids)).tuples())
            for entry_id, uid in ids:
                prepared.execute(_insert_body, entry_id, raw_by_uid[uid])
                last = entry_id
        if last is not None:
            # SQLite keeps a copy of every blob bound to a statement in the driver's statement
            # cache until that statement runs again (issue 11: multi-row INSERTs of 1-50 bodies
            # held 33 MiB of old mail in the fetcher). One statement text, and rebound here to
            # an empty value (a no-op: the row exists), holds none.
            prepared.execute(_insert_body, last, b"")
    return len(fresh)


def _insert_body(entry_id, raw):
    return SpoolBody.insert(entry=entry_id, raw=raw).on_conflict_ignore()


def pending_ids(limit: int = 1000) -> list[int]:
    """Oldest first, as Mailman's switchboard does (FIFO)."""
    # Oldest arrival first (INTERNALDATE): after an outage the oldest mail has waited longest
    # (docs/reliability.md case 35); the spool id breaks ties and stands in for a missing date.
    query = (SpoolEntry.select(SpoolEntry.id).where(SpoolEntry.state == "pending")
             .order_by(fn.COALESCE(SpoolEntry.internaldate, SpoolEntry.fetched_at), SpoolEntry.id).limit(limit))
    return [row.id for row in query]


def _entry(entry_id):
    return SpoolEntry.select().where(SpoolEntry.id == entry_id)


def _body(entry_id):
    return SpoolBody.select(SpoolBody.raw).where(SpoolBody.entry == entry_id)


def raw_of(entry_id: int) -> bytes:
    """The mail's bytes as fetched (empty for a mail left on the server as oversized)."""
    raw = prepared.scalar(_body, entry_id)
    return bytes(raw) if raw is not None else b""


def get(entry_id: int) -> SpoolEntry:
    entry = prepared.model(SpoolEntry, _entry, entry_id)
    if entry is None:
        raise SpoolEntry.DoesNotExist(f"spool entry {entry_id}")
    return entry


def arrival_of(entry: SpoolEntry) -> datetime | None:
    return from_db(entry.internaldate)


def start_attempt(entry_id: int) -> None:
    """Count an attempt BEFORE the mail is processed.

    Counting only after an exception let a mail that kills or stalls the process (OOM,
    watchdog, kill -9) be taken again at every start: a crash loop (docs/reliability.md case 39).
    One prepared UPDATE that commits on its own: in WAL with synchronous=NORMAL that is
    a page append without fsync.
    """
    prepared.execute(_count_attempt, 1, entry_id)


def _count_attempt(step, entry_id):
    return SpoolEntry.update(attempts=SpoolEntry.attempts + step).where(SpoolEntry.id == entry_id)


def record_failure(entry_id: int, error: str, now: datetime, *, final: bool) -> SpoolEntry:
    """Record why an attempt failed (start_attempt counted it); quarantine after
    MAX_ATTEMPTS or when `final`."""
    with write_transaction():
        entry = SpoolEntry.get_by_id(entry_id)
        if entry.state != "pending":
            # Another worker finished it meanwhile (this one outlived its lease): theirs stands.
            return entry
        entry.error = error[:2000]
        if final or entry.attempts >= MAX_ATTEMPTS:
            entry.state = "quarantined"
            entry.outcome = "quarantined"
            entry.processed_at = to_db(now)
        entry.save()
    return entry


def quarantined(limit: int = 200) -> list[SpoolEntry]:
    return list(SpoolEntry.select().where(SpoolEntry.state == "quarantined")
                .order_by(SpoolEntry.id.desc()).limit(limit))


def retry(entry_id: int) -> bool:
    """Put a quarantined mail back in the queue (after a fix), with a fresh attempt count."""
    with write_transaction():
        updated = (SpoolEntry.update(state="pending", attempts=0, error="", outcome="", claimed_by="",
                                     lease_until=None)
                   .where(SpoolEntry.id == entry_id, SpoolEntry.state == "quarantined").execute())
        if updated:
            # Quarantined again, it gets a new alert.
            OnceKey.delete().where(OnceKey.key == quarantine_alert_key(entry_id)).execute()
    return bool(updated)


def note_uidvalidity(account: str, mailbox: str, uidvalidity: int, now: datetime) -> int | None:
    """Record the folder's UIDVALIDITY; returns the one recorded before when it changed, else None."""
    with write_transaction():
        row = FolderState.get_or_none(FolderState.account == account, FolderState.mailbox == mailbox)
        if row is None:
            FolderState.create(account=account, mailbox=mailbox, uidvalidity=uidvalidity, updated_at=to_db(now))
            return None
        if row.uidvalidity == uidvalidity:
            return None
        before = row.uidvalidity
        row.uidvalidity, row.updated_at = uidvalidity, to_db(now)
        row.save()
        return before


def record_oversized(account: str, mailbox: str, uidvalidity: int, uid: int, size: int, error: str,
                     now: datetime) -> None:
    """A mail left on the server as too big: a quarantined entry without bytes, in its own commit."""
    with write_transaction():
        SpoolEntry.insert(
            account=account, mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, sha256="", size=size,
            state="quarantined", outcome="oversized", attempts=1, error=error,
            fetched_at=to_db(now), processed_at=to_db(now),
        ).on_conflict_ignore().execute()


def mark_duplicate(entry_id: int, now: datetime) -> None:
    """A mail another writer stored first: done with, as a duplicate."""
    SpoolEntry.update(state="ignored", outcome="duplicate", processed_at=to_db(now)) \
        .where(SpoolEntry.id == entry_id, SpoolEntry.state == "pending").execute()


def entry_id_of(account: str, uid: int) -> int:
    """The spool entry of a UID in an account that has one mailbox (the phone intake)."""
    return SpoolEntry.get(SpoolEntry.account == account, SpoolEntry.uid == uid).id


def ticket_key_of(entry_id: int) -> str | None:
    """The key of the ticket a processed mail went to, None when it made no ticket."""
    return (Ticket.select(Ticket.key).join(SpoolEntry, on=SpoolEntry.ticket == Ticket.id)
            .where(SpoolEntry.id == entry_id).scalar())


def next_local_uid(account: str) -> int:
    """A fresh UID for mail made here (a phone task), committed at once: numbers are never reused."""
    with write_transaction():
        return next_number(f"{account}-task")
