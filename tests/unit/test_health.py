"""daemon/core/health.py on values: each check's thresholds and the worst-of verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daemon.core.health import (
    CRITICAL,
    OK,
    WARNING,
    DeskHealth,
    Expectations,
    TokenState,
    summarize,
)

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
E = Expectations(fetch_every_seconds=300)


def healthy(**changes) -> DeskHealth:
    values = dict(now=NOW, fetch_ok_at=NOW - timedelta(seconds=40), imap_up=True,
                  imap_since=NOW - timedelta(days=1), imap_error="", spool_pending=0, spool_oldest=None,
                  outbox={"sent": 12}, outbox_oldest_unsent=None)
    values.update(changes)
    return DeskHealth(**values)


def level_of(summary, name: str) -> int:
    return next(c.level for c in summary.checks if c.name == name)


def test_a_healthy_desk_is_ok_and_says_so_in_one_line():
    summary = summarize(healthy(), E)
    assert summary.level == OK
    assert summary.line.startswith("OK: ") and "fetch 40s ago" in summary.line and "\n" not in summary.line


def test_fetch_age_warns_after_two_passes_and_is_critical_after_six():
    assert summarize(healthy(fetch_ok_at=NOW - timedelta(seconds=650)), E).level == OK
    warn = summarize(healthy(fetch_ok_at=NOW - timedelta(seconds=700)), E)
    assert warn.level == WARNING and warn.line.startswith("WARNING: last fetch 11m ago")
    crit = summarize(healthy(fetch_ok_at=NOW - timedelta(seconds=1801)), E)
    assert crit.level == CRITICAL and "is the daemon running?" in crit.line


def test_imap_down_is_a_warning_at_first_then_critical():
    short = summarize(healthy(imap_up=False, imap_since=NOW - timedelta(seconds=30), imap_error="refused"), E)
    assert level_of(short, "fetch") == WARNING and "IMAP down for 30s: refused" in short.line
    long = summarize(healthy(imap_up=False, imap_since=NOW - timedelta(minutes=6)), E)
    assert long.level == CRITICAL


def test_no_fetch_ever_recorded_is_a_warning():
    summary = summarize(healthy(fetch_ok_at=None, imap_up=None, imap_since=None), E)
    assert level_of(summary, "fetch") == WARNING and "no fetch recorded yet" in summary.line


def test_oldest_unprocessed_and_unsent_mail_by_age():
    spool = summarize(healthy(spool_pending=3, spool_oldest=NOW - timedelta(minutes=6)), E)
    assert level_of(spool, "spool") == WARNING and "oldest unprocessed 6m (3 waiting)" in spool.line
    assert summarize(healthy(spool_pending=1, spool_oldest=NOW - timedelta(minutes=31)), E).level == CRITICAL
    fresh = summarize(healthy(outbox={"pending": 2}, outbox_oldest_unsent=NOW - timedelta(seconds=20)), E)
    assert fresh.level == OK
    late = summarize(healthy(outbox={"pending": 1, "sending": 1}, outbox_oldest_unsent=NOW - timedelta(hours=2)), E)
    assert level_of(late, "outbox") == CRITICAL and "oldest unsent 2h00m (2 waiting)" in late.line


def test_recent_dead_mail_quarantine_and_breaches_warn():
    assert summarize(healthy(outbox={"dead": 4}, dead_recent=0), E).level == OK
    assert summarize(healthy(outbox={"dead": 4}, dead_recent=1), E).level == WARNING
    assert summarize(healthy(quarantined=2, quarantined_recent=1), E).level == WARNING
    breached = summarize(healthy(breaches_today=2), E)
    assert breached.level == WARNING and breached.line.startswith("WARNING: breaches today 2")


def test_a_failed_token_command_is_critical_and_an_expired_token_a_warning():
    failed = TokenState("smtp", ok=False, expires_at=None, error="exit 1", at=None)
    summary = summarize(healthy(tokens=(failed,)), E)
    assert summary.level == CRITICAL and "smtp token command failed: exit 1" in summary.line
    expired = TokenState("imap", ok=True, expires_at=NOW - timedelta(minutes=5), error="", at=None)
    assert summarize(healthy(tokens=(expired,)), E).level == WARNING
    fine = TokenState("imap", ok=True, expires_at=NOW + timedelta(minutes=50), error="", at=None)
    assert "imap token expires in 50m" in summarize(healthy(tokens=(fine,)), E).line
