"""fetch_cycle(): new mail from the intake folder into the spool, then off the server's intake.

Order is the whole point (docs/style.md rule 3): fetch with BODY.PEEK, commit to the
spool, and only then move the server copy to the processed folder. A crash
in between leaves the mail in the intake; the next cycle finds its UID in
the spool and just moves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from daemon.adapters.imap import ImapMailbox
from daemon.config import ImapSettings
from daemon.faults import checkpoint
from store import spool

log = logging.getLogger("oneassist.fetch")


def account_of(settings: ImapSettings) -> str:
    return f"{settings.username.lower()}@{settings.host.lower()}"


def note_uidvalidity(account: str, mailbox: str, uidvalidity: int, now: datetime) -> None:
    before = spool.note_uidvalidity(account, mailbox, uidvalidity, now)
    if before is not None:
        # Every UID is new now; the duplicate keys keep re-fetched mail from becoming new tickets.
        log.warning("imap: UIDVALIDITY of %s changed %s -> %s; re-reading the folder",
                    mailbox, before, uidvalidity)


def quarantine_oversized(box: ImapMailbox, account: str, uidvalidity: int, uids: list[int],
                         sizes: dict[int, int], now: datetime) -> None:
    """Too big to fetch safely: leave it on the server in the quarantine folder and record that."""
    s = box.settings
    for uid in uids:
        spool.record_oversized(account, s.folder, uidvalidity, uid, sizes[uid],
                               f"{sizes[uid]} bytes is over imap.max_message_bytes = {s.max_message_bytes}; "
                               f"the mail was left on the server in {s.quarantine_folder}", now)
        log.error("imap: uid %s is %s bytes, over the limit; moved to %s", uid, sizes[uid], s.quarantine_folder)
    box.move(uids, s.quarantine_folder)


def fetch_cycle(box: ImapMailbox, now: Callable[[], datetime], after_batch: Callable[[], None]) -> int:
    """One pass over the intake folder; returns how many mails were newly spooled."""
    s = box.settings
    account = account_of(s)
    uidvalidity = box.select()
    note_uidvalidity(account, s.folder, uidvalidity, now())
    uids = box.list_uids()
    if not uids:
        return 0
    known = spool.known_uids(account, s.folder, uidvalidity, uids)
    if known:
        # Spooled before a crash or a failed move: the bytes are safe, finish the move.
        box.move(sorted(known), s.processed_folder)
    new = [u for u in uids if u not in known]
    sizes = box.sizes(new)
    oversized = [u for u in new if sizes.get(u, 0) > s.max_message_bytes]
    if oversized:
        quarantine_oversized(box, account, uidvalidity, oversized, sizes, now())
    # Oldest arrival first, not UID order: after an outage the backlog drains the way it came
    # in (docs/reliability.md case 35), batch after batch.
    latest = datetime.max.replace(tzinfo=UTC)
    wanted = sorted((u for u in new if u not in set(oversized)), key=lambda u: (box.arrived.get(u) or latest, u))
    stored = 0
    for batch in box.batches(wanted, sizes, s.fetch_batch):
        items = box.fetch(batch, sizes)
        checkpoint("fetched")
        stored += spool.put_many(account, s.folder, uidvalidity, items, now())
        checkpoint("spooled")
        box.move([item.uid for item in items], s.processed_folder)
        checkpoint("moved")
        # The batch's bytes are in the spool now; holding them while it is processed doubles the peak RSS.
        del items
        after_batch()
    if stored:
        log.info("imap: %s new mail(s) spooled from %s", stored, s.folder)
    return stored
