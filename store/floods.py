"""Hour windows of capped notices (admin alerts, staff notifications) and their digests.

The pure rule is daemon.core.workflow.coalesce(); this module only counts what it
decided, inside the caller's transaction, so the counts and the outbox rows commit
together and a restart neither forgets what was held back nor mails the digest twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

import peewee

from daemon.core import notice_kinds as kinds
from daemon.core.model import Notice
from store import prepared
from store.db import to_db
from store.models import NoticeWindow

WINDOW = timedelta(hours=1)
# Labels kept per window for the digest; the count of held notices is exact beyond them.
MAX_LABELS = 50
# The column's width: a source is stored, and so looked up, cut to it (a hostile sender
# longer than that would otherwise open a new window, and so pass the cap, with each mail).
SOURCE = 320
# Closed windows are kept this long after their digest, then deleted.
KEEP = timedelta(days=2)


class WindowRow(NamedTuple):
    """A new hour window, opened by its first notice (fields in peewee's binding order)."""

    kind: str
    source: str
    recipients: str
    language: str
    opened_at: datetime
    closes_at: datetime
    sent: int
    held: int
    labels: str


# Every mail that forwards to staff counts here, so these run as prepared statements
# (store/prepared.py): peewee writes their SQL once, not once per mail.
def _open_window(source, kind, recipients, opened_before, closes_after, limit):
    return (NoticeWindow.select(NoticeWindow.id, NoticeWindow.labels)
            .where(NoticeWindow.source == source, NoticeWindow.kind == kind,
                   NoticeWindow.recipients == recipients, NoticeWindow.opened_at <= opened_before,
                   NoticeWindow.closes_at > closes_after)
            .order_by(NoticeWindow.id.desc()).limit(limit))


def _insert_window(row: WindowRow) -> peewee.Query:
    return NoticeWindow.insert(**row._asdict())


def _add_sent(step, source, kind, recipients, opened_before, closes_after):
    # By the window's key, not its id: counting a sent notice reads nothing first.
    return (NoticeWindow.update(sent=NoticeWindow.sent + step)
            .where(NoticeWindow.source == source, NoticeWindow.kind == kind,
                   NoticeWindow.recipients == recipients, NoticeWindow.opened_at <= opened_before,
                   NoticeWindow.closes_at > closes_after))


def _add_held(step, labels, window_id):
    return (NoticeWindow.update(held=NoticeWindow.held + step, labels=labels)
            .where(NoticeWindow.id == window_id))


def _open_windows(source, opened_before, closes_after):
    return (NoticeWindow.select(NoticeWindow.kind, NoticeWindow.recipients, NoticeWindow.sent)
            .where(NoticeWindow.source == source, NoticeWindow.opened_at <= opened_before,
                   NoticeWindow.closes_at > closes_after))


def sent_this_hour(source: str, now: datetime) -> tuple[tuple[str, str, int], ...]:
    """(kind, recipients, sent) of every open hour window of one source, for the flood caps."""
    at = to_db(now)
    return tuple((kind, recipients, sent) for kind, recipients, sent in prepared.rows(_open_windows, source[:SOURCE], at, at))


def _counted(notice: Notice) -> None:
    # Only a kind whose rate-limit class is counted per source has windows: a notice of any
    # other kind here is a bug (it would open a window no cap reads), not a count.
    rate = kinds.named(notice.template).rate
    if not rate.per_source or not notice.source:
        raise ValueError(f"{notice.template} (rate class {rate}, source {bool(notice.source)}) "
                         "is not counted in a flood window")


def _window(notice: Notice, now: datetime) -> tuple[int, str] | None:
    """(id, labels) of the notice's open window, or None when its hour has not opened yet."""
    at = to_db(now)
    found = prepared.rows(_open_window, notice.source[:SOURCE], str(notice.template), "\n".join(notice.to), at, at, 1)
    return (found[0][0], found[0][1]) if found else None


def _open(notice: Notice, now: datetime, *, sent: int, held: int, labels: str) -> None:
    prepared.execute_row(_insert_window, WindowRow(
        kind=str(notice.template), source=notice.source[:SOURCE], recipients="\n".join(notice.to),
        language=notice.language, opened_at=to_db(now), closes_at=to_db(now + WINDOW), sent=sent, held=held,
        labels=labels))


def count_sent(notice: Notice, now: datetime) -> None:
    """A capped notice went to the outbox: one more in its source's hour (one UPDATE, or the INSERT
    that opens the hour)."""
    _counted(notice)
    at = to_db(now)
    if not prepared.rowcount(_add_sent, 1, notice.source[:SOURCE], str(notice.template), "\n".join(notice.to),
                             at, at):
        _open(notice, now, sent=1, held=0, labels="")


def count_held(notice: Notice, label: str, now: datetime) -> None:
    """A capped notice over its cap: counted (and labelled) for the window's digest, not sent."""
    _counted(notice)
    window = _window(notice, now)
    labels = [x for x in (window[1] if window else "").split("\n") if x]
    if label and len(labels) < MAX_LABELS and label not in labels:
        labels.append(label)
    if window is None:
        _open(notice, now, sent=0, held=1, labels="\n".join(labels))
    else:
        prepared.execute(_add_held, 1, "\n".join(labels), window[0])


def due_digests(now: datetime, limit: int = 100) -> list[NoticeWindow]:
    """Closed windows that held notices back and have not had their digest yet."""
    return list(NoticeWindow.select()
                .where(NoticeWindow.digest_at.is_null(), NoticeWindow.closes_at <= to_db(now),
                       NoticeWindow.held > 0)
                .order_by(NoticeWindow.closes_at).limit(limit))


def claim_digest(window_id: int, now: datetime) -> bool:
    """Stamp a window's digest as sent; False when another pass already did."""
    return bool(NoticeWindow.update(digest_at=to_db(now))
                .where(NoticeWindow.id == window_id, NoticeWindow.digest_at.is_null()).execute())


def prune(now: datetime) -> int:
    """Forget windows closed long ago whose digest is done or was never owed."""
    old = to_db(now - KEEP)
    return NoticeWindow.delete().where(
        NoticeWindow.closes_at < old,
        (NoticeWindow.held == 0) | NoticeWindow.digest_at.is_null(False)).execute()
