"""What the Prometheus endpoint exports, read from the store at scrape time (issue 13).

Counts of rows (spool, outbox, quarantine, timers, breaches) are the store's own and the
counters the runners keep are rows of OpsState (store/ops.py), so a scrape is right after a
restart and whichever process fetched or sent: there is no per-process registry to merge,
and prometheus_client's multiprocess mode is not needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import peewee

from store.db import to_db
from store.models import Event, SpoolEntry, Timer
from store.ops import ACK_BUCKETS, ACK_PREFIX, SEND_PREFIX, ops_rows
from store.proxy import database

# First-response times are summarised over this window (a median over all time hides today).
RESPONSE_WINDOW_DAYS = 30


@dataclass(frozen=True)
class MetricsView:
    fetched: int
    processed: dict[tuple[str, str], int]
    sends: dict[str, float]
    # Cumulative (le, count) pairs, +Inf last, then the sum and count of the observations.
    ack_buckets: list[tuple[str, float]]
    ack_sum: float
    ack_count: float
    breaches: dict[str, int]
    responses: dict[str, list[int]] = field(default_factory=dict)
    timers_due: int = 0
    fetch_passes: float = 0


def _detail(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


def metrics_view(now: datetime) -> MetricsView:
    """The counters and per-manager figures (the gauges of `status` come from store/ops.health)."""
    with database.atomic():
        rows = ops_rows()
        by_state = (SpoolEntry.select(SpoolEntry.state, SpoolEntry.outcome, peewee.fn.COUNT(SpoolEntry.id))
                    .group_by(SpoolEntry.state, SpoolEntry.outcome).tuples())
        processed = {(state, outcome or state): n for state, outcome, n in by_state}
        # The scheduler records each breach as an event whose detail is the manager.
        breaches = dict(Event.select(Event.detail, peewee.fn.COUNT(Event.id))
                        .where(Event.kind == "sla-breach").group_by(Event.detail).tuples())
        responses: dict[str, list[int]] = {}
        since = to_db(now - timedelta(days=RESPONSE_WINDOW_DAYS))
        for detail, in Event.select(Event.detail).where(Event.kind == "response", Event.at >= since).tuples():
            values = _detail(detail)
            if values.get("manager") and values.get("seconds", "").isdigit():
                responses.setdefault(values["manager"], []).append(int(values["seconds"]))
        timers_due = Timer.select().where(Timer.fired_at.is_null(), Timer.fire_at <= to_db(now)).count()
    cumulative, total = [], 0.0
    for bound in (*(f"{b:g}" for b in ACK_BUCKETS), "+Inf"):
        row = rows.get(ACK_PREFIX + bound)
        total += row.value if row else 0
        cumulative.append((bound, total))
    sends = {name[len(SEND_PREFIX):]: row.value for name, row in rows.items() if name.startswith(SEND_PREFIX)}
    fetch = rows.get("imap.fetch_ok")
    return MetricsView(
        fetched=sum(n for (state, outcome), n in processed.items() if outcome != "oversized"),
        processed={k: v for k, v in processed.items() if k[0] != "pending"},
        sends=sends, ack_buckets=cumulative,
        ack_sum=rows[ACK_PREFIX + "sum"].value if ACK_PREFIX + "sum" in rows else 0.0,
        ack_count=rows[ACK_PREFIX + "count"].value if ACK_PREFIX + "count" in rows else 0.0,
        breaches=breaches, responses=responses, timers_due=timers_due,
        fetch_passes=fetch.value if fetch else 0,
    )
