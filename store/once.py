"""Once-keys: what must happen once, whichever daemon on the store gets there first.

`claim_once(key, now)` inserts the key inside the caller's transaction and says whether
this transaction is the first to do so. The unique index makes a second insert a
no-op, not an error; on PostgreSQL a concurrent insert of the same key waits for the
first transaction and then finds it there, so exactly one of two daemons goes on.
If the caller's transaction rolls back, the key goes with it and the thing may be
done again later (it was not done).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from daemon.core import notice_kinds as kinds
from daemon.core.model import Notice
from store.db import database, to_db
from store.models import OnceKey
from store.once_keys import (  # noqa: F401  (the keys, named here for callers)
    join_reply_key,
    quarantine_alert_key,
    renewal_key,
    suspension_key,
    timer_key,
    transcript_key,
)


def claim_once(key: str, now: datetime) -> bool:
    """True when `key` was not taken yet (and now is, in the caller's transaction)."""
    query = OnceKey.insert(key=key[:400], at=to_db(now)).on_conflict_ignore()
    # The cursor's rowcount, not peewee's return value: after an ignored INSERT sqlite3 reports
    # the previous insert's rowid, which would read as "inserted".
    return database.execute(query).rowcount == 1


def notice_once(notice: Notice, entry_id: int | None, now: datetime) -> bool:
    """Claim the once-key of a notice that must go once whatever the number of daemons;
    True also for the notices that have none (an ack is once per spool entry already)."""
    if notice.template == kinds.JOIN:
        return all([claim_once(join_reply_key(to, now.date()), now) for to in notice.to])
    if notice.template == kinds.TRANSCRIPT and entry_id is not None:
        return claim_once(f"{transcript_key(entry_id)}:{','.join(notice.to)}", now)
    return True


# Join-reply keys are for one day; a few days later nothing can collide with them.
JOIN_KEYS_KEPT = timedelta(days=3)


def prune(now: datetime) -> int:
    """Forget join-reply keys of days long past (the other keys guard money and are kept)."""
    return OnceKey.delete().where(OnceKey.key.startswith("join:"),
                                  OnceKey.at < to_db(now - JOIN_KEYS_KEPT)).execute()
