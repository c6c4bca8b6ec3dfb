"""Spool claims: which ingest worker processes which spooled mail, for how long.

Several workers (processes, or daemons on several hosts sharing one PostgreSQL) take
mail from one spool. Two rules hold whatever the number of workers:

- a mail is processed by one worker at a time: a claim is a lease (worker, expiry);
  a worker that dies leaves a lease that expires, and then any worker takes the mail
  again (its attempt was counted, so a mail that kills workers is quarantined);
- two mails of one client are never processed at once, and always in arrival order, so
  a reply finds the task it answers. Each mail has a lane, set when it is spooled: its
  sender's client; else, for the ticket's manager or assignee, the client of the ticket its
  subject names; else
  its From address. A lane with a live lease is busy, and a worker takes the oldest
  pending mails of a lane only.

On PostgreSQL a claimer holds a transaction advisory lock per lane while it decides
(pg_try_advisory_xact_lock: a lane another claimer is deciding on is skipped, never
waited for), and locks the chosen rows FOR UPDATE SKIP LOCKED (a row an apply is
writing right now is left). On SQLite the write lock at BEGIN serializes claimers.
The apply step's own fence (state 'pending' -> 'done' in its transaction) keeps a
mail from being applied twice even when a slow worker outlives its lease.
"""

from __future__ import annotations

import email.header
import email.message
import email.parser
import email.policy
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from parsers.addresses import parse_address_list
from store.db import database, is_postgres, to_db, write_transaction
from store.models import Client, ClientAddress, SpoolEntry, Ticket

# Candidates read per claim, as a multiple of the limit: lanes that are busy are passed over.
WINDOW = 4
MIN_WINDOW = 50
# The first int of the two-int advisory lock key: spool lanes (store/locks.py uses others).
LANE_LOCK_CLASS = 0x0A51
# Headers past this are not read for the lane: a crafted mail cannot make it expensive.
HEADER_BYTES = 64 * 1024
# A ticket key in a subject, [OA-12], whatever the desk's prefix (store has no settings).
_KEY = re.compile(r"\[([A-Za-z][A-Za-z0-9]{0,15}-\d{1,12})\]")
MAX_KEYS = 5


def _now(now: datetime | None) -> datetime:
    return to_db(now or datetime.now(UTC))


def claim_spool(worker: str, limit: int, lease_seconds: int, *, now: datetime | None = None) -> list[int]:
    """Lease up to `limit` pending spool entries to `worker`; their ids, oldest first.

    Process them in the order given, one at a time: entries of one lane come in arrival
    order. Release what is left unprocessed (release_spool), renew a lease that may run
    out (renew_spool). `now` is for tests; leases are between processes, on wall time.
    """
    at = _now(now)
    until = at + timedelta(seconds=lease_seconds)
    with write_transaction():
        free = (SpoolEntry.lease_until.is_null()) | (SpoolEntry.lease_until <= at)
        Held = SpoolEntry.alias()
        held = Held.select(Held.lane).where(Held.state == "pending", Held.lease_until > at)
        # Busy lanes are left out here, not after: a flood from one client fills no window, and
        # the other clients' mail behind it goes to the other workers.
        candidates = list(SpoolEntry.select(SpoolEntry.id, SpoolEntry.lane)
                          .where(SpoolEntry.state == "pending", free, SpoolEntry.lane.not_in(held))
                          .order_by(SpoolEntry.id).limit(max(MIN_WINDOW, limit * WINDOW)).tuples())
        if not candidates:
            return []
        lanes = _free_lanes({lane for _, lane in candidates}, at)
        chosen: dict[str, list[int]] = {}
        taken = 0
        for entry_id, lane in candidates:
            if taken >= limit:
                break
            if lane not in lanes:
                continue
            if lane not in chosen:
                if is_postgres() and not _lock_lane(lane):
                    lanes.discard(lane)
                    continue
                chosen[lane] = []
            chosen[lane].append(entry_id)
            taken += 1
        if not chosen:
            return []
        if is_postgres():
            # Under the lane locks, with what committed since the candidates were read.
            busy = set(chosen) - _free_lanes(set(chosen), at)
            for lane in busy:
                del chosen[lane]
            ids = _lockable([i for row in chosen.values() for i in row], at)
            # A lane keeps only the part of its list before the first row it cannot take.
            chosen = {lane: _prefix(row, ids) for lane, row in chosen.items()}
        wanted = sorted(i for row in chosen.values() for i in row)
        if not wanted:
            return []
        (SpoolEntry.update(claimed_by=worker[:64], lease_until=until)
         .where(SpoolEntry.id.in_(wanted), SpoolEntry.state == "pending", free).execute())
        return wanted


def _free_lanes(lanes: set[str], at: datetime) -> set[str]:
    """Those of `lanes` in which no pending entry holds a live lease."""
    busy: set[str] = set()
    names = list(lanes)
    for i in range(0, len(names), 500):
        query = (SpoolEntry.select(SpoolEntry.lane).distinct()
                 .where(SpoolEntry.state == "pending", SpoolEntry.lane.in_(names[i:i + 500]),
                        SpoolEntry.lease_until > at))
        busy.update(lane for (lane,) in query.tuples())
    return lanes - busy


def _lock_lane(lane: str) -> bool:
    cursor = database.execute_sql("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", (LANE_LOCK_CLASS, lane))
    return bool(cursor.fetchone()[0])


def _lockable(ids: list[int], at: datetime) -> set[int]:
    if not ids:
        return set()
    free = (SpoolEntry.lease_until.is_null()) | (SpoolEntry.lease_until <= at)
    query = (SpoolEntry.select(SpoolEntry.id).where(SpoolEntry.id.in_(ids), SpoolEntry.state == "pending", free)
             .for_update("FOR UPDATE SKIP LOCKED"))
    return {entry_id for (entry_id,) in query.tuples()}


def _prefix(row: list[int], ids: set[int]) -> list[int]:
    kept = []
    for entry_id in row:
        if entry_id not in ids:
            break
        kept.append(entry_id)
    return kept


def release_spool(worker: str, ids: Iterable[int], *, delay_seconds: float = 0,
                  now: datetime | None = None) -> int:
    """Give back `worker`'s leases on entries still pending (a retry, or a worker stopping).

    With `delay_seconds` the entry (and so its lane) waits that long before it is taken
    again: a failed attempt is retried after a pause, and later mail of the same client
    still waits behind it.
    """
    wanted = list(ids)
    if not wanted:
        return 0
    until = _now(now) + timedelta(seconds=delay_seconds) if delay_seconds else None
    return (SpoolEntry.update(claimed_by="", lease_until=until)
            .where(SpoolEntry.id.in_(wanted), SpoolEntry.claimed_by == worker[:64],
                   SpoolEntry.state == "pending").execute())


def renew_spool(worker: str, ids: Iterable[int], lease_seconds: int, *, now: datetime | None = None) -> int:
    """Extend `worker`'s leases on entries still pending; returns how many it still holds."""
    wanted = list(ids)
    if not wanted:
        return 0
    until = _now(now) + timedelta(seconds=lease_seconds)
    return (SpoolEntry.update(lease_until=until)
            .where(SpoolEntry.id.in_(wanted), SpoolEntry.claimed_by == worker[:64],
                   SpoolEntry.state == "pending").execute())


def release_all_leases() -> int:
    """Every spool lease dropped: only for a store one daemon owns (SQLite under its lock)."""
    return (SpoolEntry.update(claimed_by="", lease_until=None)
            .where(SpoolEntry.state == "pending", SpoolEntry.lease_until.is_null(False)).execute())


def _headers(raw: bytes) -> email.message.Message:
    end = raw.find(b"\r\n\r\n", 0, HEADER_BYTES)
    if end < 0:
        end = raw.find(b"\n\n", 0, HEADER_BYTES)
    head = raw[:end if end >= 0 else HEADER_BYTES]
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head, headersonly=True)


def sender_of(raw: bytes) -> str:
    """The normalized From address of a raw mail, '' when there is none; headers only."""
    values = [str(v) for v in _headers(raw).get_all("From") or []]
    found = parse_address_list(values)
    return found[0] if len(found) == 1 else ""


def _subject_keys(raw: bytes) -> list[str]:
    """Ticket keys in [BRACKETS] of the subject (decoded), at most a few."""
    value = _headers(raw).get("Subject")
    if value is None:
        return []
    try:
        text = str(email.header.make_header(email.header.decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        text = str(value)
    return [key.upper() for key in _KEY.findall(text[:1000])[:MAX_KEYS]]


def lanes_of(raws: Iterable[bytes]) -> list[str]:
    """The lane of each raw mail: its sender's client when the address is registered, else
    the address; mail with no single From address shares the lane ''. A client's mails
    from any of its addresses share a lane, so a reply from an alias waits for the task.

    Mail from a ticket's manager or assignee whose subject names it, `[OA-12]`, goes into
    that ticket's client's lane: a staff reply and the client's own mail about one ticket
    are not applied at once either. (A forged From can do that too; it only queues the
    mail behind the client's and gives it nothing of the ticket.)"""
    mails = list(raws)
    senders = [sender_of(raw) for raw in mails]
    known = {s for s in senders if s}
    clients: dict[str, int] = {}
    names = sorted(known)
    for i in range(0, len(names), 500):
        query = (ClientAddress.select(ClientAddress.email, ClientAddress.client)
                 .where(ClientAddress.email.in_(names[i:i + 500])).tuples())
        clients.update(query)
        primary = Client.select(Client.email, Client.id).where(Client.email.in_(names[i:i + 500])).tuples()
        for address, client_id in primary:
            clients.setdefault(address, client_id)
    keys = {i: _subject_keys(raw) for i, (raw, s) in enumerate(zip(mails, senders, strict=True)) if s not in clients}
    wanted = sorted({k for found in keys.values() for k in found})
    owners: dict[str, tuple[int, set[str]]] = {}
    for i in range(0, len(wanted), 500):
        rows = (Ticket.select(Ticket.key, Ticket.client, Ticket.manager_email, Ticket.assignee_email)
                .where(Ticket.key.in_(wanted[i:i + 500])).tuples())
        owners.update({key: (client_id, {manager, assignee}) for key, client_id, manager, assignee in rows})
    lanes = []
    for i, sender in enumerate(senders):
        # Only the ticket's own manager or assignee: a stranger naming a ticket must not be able
        # to queue a flood in front of that client's mail.
        owner = next((owners[k][0] for k in keys.get(i, ()) if k in owners and sender in owners[k][1]), None)
        if sender in clients:
            lanes.append(f"client:{clients[sender]}")
        elif owner is not None:
            lanes.append(f"client:{owner}")
        else:
            lanes.append(f"addr:{sender}" if sender else "")
    return lanes
