"""The retention pass the scheduler runs: horizons from `[retention]`, the purge in the store."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from datetime import datetime, timedelta

from daemon.core.settings import RetentionSettings
from store.retention import purge

log = logging.getLogger("oneassist.retention")
MAX_PASSES = 50


def retention_pass(settings: RetentionSettings, now: datetime) -> Tally[str]:
    """Purge what is past its horizon, a batch at a time, until a pass finds nothing."""
    raw_before = now - timedelta(days=settings.raw_mail_days)
    tickets_before = now - timedelta(days=settings.ticket_days)
    total: Tally[str] = Tally()
    for _ in range(MAX_PASSES):
        done = purge(now, raw_before, tickets_before)
        total.update(done)
        # Each pass takes a batch; one that found only the (unbatched) auto-reply rows is the last.
        if not any(k != "autoreplies" for k in done):
            break
    if total:
        log.info("retention: purged %s", " ".join(f"{k}={v}" for k, v in sorted(total.items())))
    return total
