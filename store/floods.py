"""Hour windows of capped notices (admin alerts, staff notifications) and their digests.

The pure rule is daemon.core.workflow.coalesce(); this module only counts what it
decided, inside the caller's transaction, so the counts and the outbox rows commit
together and a restart neither forgets what was held back nor mails the digest twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from daemon.core.model import Notice
from store.db import to_db
from store.models import NoticeWindow

WINDOW = timedelta(hours=1)
# Labels kept per window for the digest; the count of held notices is exact beyond them.
MAX_LABELS = 50
# Closed windows are kept this long after their digest, then deleted.
KEEP = timedelta(days=2)


def _window(notice: Notice, now: datetime) -> NoticeWindow:
    recipients = "\n".join(notice.to)
    found = (NoticeWindow.select()
             .where(NoticeWindow.source == notice.source, NoticeWindow.kind == notice.template,
                    NoticeWindow.recipients == recipients, NoticeWindow.opened_at <= to_db(now),
                    NoticeWindow.closes_at > to_db(now))
             .order_by(NoticeWindow.id.desc()).first())
    if found is not None:
        return found
    return NoticeWindow.create(kind=notice.template, source=notice.source[:320], recipients=recipients,
                               language=notice.language, opened_at=to_db(now), closes_at=to_db(now + WINDOW))


def count_sent(notice: Notice, now: datetime) -> None:
    """A capped notice went to the outbox: one more in its source's hour."""
    window = _window(notice, now)
    NoticeWindow.update(sent=NoticeWindow.sent + 1).where(NoticeWindow.id == window.id).execute()


def count_held(notice: Notice, label: str, now: datetime) -> None:
    """A capped notice over its cap: counted (and labelled) for the window's digest, not sent."""
    window = _window(notice, now)
    labels = [x for x in window.labels.split("\n") if x]
    if label and len(labels) < MAX_LABELS and label not in labels:
        labels.append(label)
    NoticeWindow.update(held=NoticeWindow.held + 1, labels="\n".join(labels)) \
        .where(NoticeWindow.id == window.id).execute()


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
