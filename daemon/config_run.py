"""[run] and the store's leases: how `oneassist run` splits into processes and shares a store (issue 11)."""

from __future__ import annotations

import os

from daemon.config_keys import Section
from daemon.core.errors import ConfigError
from daemon.core.settings import LeaseSettings, RunSettings


def leases_settings(sec: Section) -> LeaseSettings:
    lease = sec.get("lease_seconds", int, 120)
    if lease < 5:
        raise ConfigError(f"store.lease_seconds must be at least 5, got {lease!r}: a lease shorter "
                          "than one SMTP transaction would send mail twice")
    return LeaseSettings(lease_seconds=lease,
                         fetch_lock_retry_seconds=sec.positive("fetch_lock_retry_seconds", 2.0))


def run_settings(sec: Section, store_url: str) -> RunSettings:
    """[run]: the master's children (issue 11). SQLite keeps one ingest worker."""
    sqlite = store_url.startswith("sqlite:")
    workers = sec.get("ingest_workers", int, 1 if sqlite else (os.cpu_count() or 1))
    if workers < 1:
        raise ConfigError(f"run.ingest_workers must be 1 or more, got {workers}")
    if sqlite and workers > 1:
        raise ConfigError(f"run.ingest_workers = {workers}: a SQLite store takes one writer at a time, "
                          "so it runs one ingest worker; remove the key, or use store.url = "
                          "\"postgresql://…\" for several")
    slack = sec.positive("heartbeat_slack_seconds", 30)
    stall = sec.positive("stall_seconds", 300)
    if stall <= slack:
        raise ConfigError(f"run.stall_seconds = {stall:g} must be more than run.heartbeat_slack_seconds = "
                          f"{slack:g}: a late runner first stops the watchdog pings, later it is restarted")
    return RunSettings(ingest_workers=workers, heartbeat_slack_seconds=slack, stall_seconds=stall)
