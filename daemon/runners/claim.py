"""claim_spool(): which spool entries an ingest worker takes next.

A stand-in with the signature of store.claims.claim_spool (issue 11, the multi-daemon
safety work), which claims with a lease, FOR UPDATE SKIP LOCKED and one client at a time.
Until that lands this is the plain oldest-first read the single-process daemon used,
safe only for one worker: the config refuses run.ingest_workers > 1 on SQLite.
"""

from __future__ import annotations

from store import spool


def claim_spool(worker: str, limit: int, lease_seconds: int) -> list[int]:
    """Up to `limit` pending entry ids for `worker`, oldest first (Mailman's FIFO switchboard)."""
    del worker, lease_seconds  # used by the leasing claim that replaces this one
    return spool.pending_ids(limit)
