"""After a backlog drained: one "we are back" notice per client whose tasks waited too long
(docs/reliability.md case 35), instead of an ack per task saying "within 15 minutes".

Runs when the spool has nothing pending (the backlog is through), from the fetch loop
and from `run --once`; what was told is in the store (store/backlog.py), so running it
often is harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime

from daemon.core import notice_kinds as kinds
from daemon.core.model import Notice
from daemon.render.notices import Notifier, render_or_park
from store import backlog, spool

log = logging.getLogger("oneassist.backlog")


def send_back_notices(notifier: Notifier, now: datetime) -> int | None:
    """How many clients were told; None (nothing done) while mail still waits in the spool."""
    if spool.pending_ids(1):
        return None
    told = 0
    for email, language, tasks in backlog.late_tasks_by_client().values():
        notice = Notice(template=kinds.BACK, to=(email,), language=language,
                        context=(("count", len(tasks)),
                                 ("tasks", tuple({"key": key, "subject": subject} for key, subject in tasks))))
        outbox_id = backlog.send_back_notice(
            tasks, lambda ticket, notice=notice: render_or_park(notifier, notice, ticket, None, now), now)
        if outbox_id is not None:
            told += 1
    if told:
        log.info("backlog: %s client(s) told their late tasks are with their manager", told)
    return told
