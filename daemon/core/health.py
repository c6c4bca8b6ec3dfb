"""The desk's health as one verdict: pure, over values the store read in one call.

`oneassist status` prints it (exit code 0/1/2 as a Nagios check), the daemon's main loop
sends its one line to systemd as STATUS=, and the metrics endpoint exports the same
values. Nothing here reads a clock or the store: `DeskHealth.now` is the moment the values
were read, so a test gives any situation as values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from daemon.core.settings import ImapSettings

OK, WARNING, CRITICAL = 0, 1, 2
# The fetcher records a pass at least this often, IDLE or not (daemon/service.py caps its wait).
FETCH_HEARTBEAT_SECONDS = 300.0
LEVEL_NAMES = ("OK", "WARNING", "CRITICAL")


@dataclass(frozen=True)
class TokenState:
    """The last run of an OAuth2 token command (imap or smtp), as the store recorded it."""

    protocol: str
    ok: bool
    expires_at: datetime | None
    error: str
    at: datetime | None


@dataclass(frozen=True)
class DeskHealth:
    """What an admin asks at 3 a.m., read from the store at `now`."""

    now: datetime
    # The last fetch pass (or IDLE wait) that talked to the IMAP server without an error.
    fetch_ok_at: datetime | None
    # None: no fetcher has ever recorded its connection (the daemon never ran on this store).
    imap_up: bool | None
    imap_since: datetime | None
    imap_error: str
    spool_pending: int
    spool_oldest: datetime | None
    outbox: dict[str, int] = field(default_factory=dict)
    outbox_oldest_unsent: datetime | None = None
    # Dead mail and quarantined mail of the last RECENT_DAYS: older ones were seen already.
    dead_recent: int = 0
    quarantined: int = 0
    quarantined_recent: int = 0
    breaches_today: int = 0
    tokens: tuple[TokenState, ...] = ()


@dataclass(frozen=True)
class Expectations:
    """When a value becomes a warning or critical; built from the settings by the caller."""

    # How often a healthy fetcher records a pass (IDLE renewals are capped to this).
    fetch_every_seconds: float = 300
    spool_warn_seconds: float = 300
    spool_crit_seconds: float = 1800
    outbox_warn_seconds: float = 600
    outbox_crit_seconds: float = 3600
    # IMAP down this long is critical (a short outage is the reconnect loop's job).
    imap_down_crit_seconds: float = 300


@dataclass(frozen=True)
class Check:
    name: str
    level: int
    text: str


@dataclass(frozen=True)
class Summary:
    level: int
    checks: tuple[Check, ...]

    @property
    def line(self) -> str:
        """One line, problems first: `WARNING: outbox: ...; fetch 12s ago; ...`."""
        ordered = sorted(self.checks, key=lambda c: -c.level)
        return f"{LEVEL_NAMES[self.level]}: " + "; ".join(c.text for c in ordered)


def expectations_for(imap: ImapSettings) -> Expectations:
    """How often this desk's fetcher records a pass: its IDLE renewal or poll, capped."""
    every = imap.idle_renew_seconds if imap.idle else min(imap.idle_renew_seconds, imap.poll_seconds)
    return Expectations(fetch_every_seconds=min(every, FETCH_HEARTBEAT_SECONDS))


def ago(seconds: float) -> str:
    """A duration for people: 42s, 7m, 3h05m, 2d4h."""
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600}h"


def _age(h: DeskHealth, moment: datetime | None) -> float | None:
    return None if moment is None else (h.now - moment).total_seconds()


def _fetch(h: DeskHealth, e: Expectations) -> Check:
    if h.imap_up is False:
        down = _age(h, h.imap_since) or 0.0
        level = CRITICAL if down >= e.imap_down_crit_seconds else WARNING
        return Check("fetch", level, f"IMAP down for {ago(down)}: {h.imap_error or 'no answer'}")
    age = _age(h, h.fetch_ok_at)
    if age is None:
        return Check("fetch", WARNING, "no fetch recorded yet (has the daemon run on this store?)")
    # A healthy fetcher records a pass at least every fetch_every_seconds; missing two is a
    # warning, six is a dead fetcher (or no daemon at all).
    if age > 6 * e.fetch_every_seconds:
        return Check("fetch", CRITICAL, f"last fetch {ago(age)} ago: is the daemon running?")
    if age > 2 * e.fetch_every_seconds + 60:
        return Check("fetch", WARNING, f"last fetch {ago(age)} ago")
    return Check("fetch", OK, f"fetch {ago(age)} ago")


def _threshold(name: str, label: str, count: int, age: float | None, warn: float, crit: float) -> Check:
    if not count or age is None:
        return Check(name, OK, f"{label} none")
    level = CRITICAL if age >= crit else WARNING if age >= warn else OK
    return Check(name, level, f"{label} {ago(age)} ({count} waiting)")


def _tokens(h: DeskHealth) -> list[Check]:
    checks = []
    for token in h.tokens:
        name = f"{token.protocol} token"
        if not token.ok:
            checks.append(Check(name, CRITICAL, f"{name} command failed: {token.error or 'no token'}"))
            continue
        left = None if token.expires_at is None else (token.expires_at - h.now).total_seconds()
        if left is not None and left <= 0:
            # The daemon renews before expiry: an expired token means nobody is renewing it.
            checks.append(Check(name, WARNING, f"{name} expired {ago(-left)} ago"))
        elif left is not None:
            checks.append(Check(name, OK, f"{name} expires in {ago(left)}"))
        else:
            checks.append(Check(name, OK, f"{name} ok"))
    return checks


def summarize(h: DeskHealth, e: Expectations) -> Summary:
    """The verdict: the worst level of the checks, each check with its own line of text."""
    unsent = h.outbox.get("pending", 0) + h.outbox.get("sending", 0)
    checks = [
        _fetch(h, e),
        _threshold("spool", "oldest unprocessed", h.spool_pending, _age(h, h.spool_oldest),
                   e.spool_warn_seconds, e.spool_crit_seconds),
        _threshold("outbox", "oldest unsent", unsent, _age(h, h.outbox_oldest_unsent),
                   e.outbox_warn_seconds, e.outbox_crit_seconds),
        Check("dead", WARNING if h.dead_recent else OK,
              f"dead mail {h.outbox.get('dead', 0)} ({h.dead_recent} this week)"),
        Check("quarantine", WARNING if h.quarantined_recent else OK,
              f"quarantine {h.quarantined} ({h.quarantined_recent} this week)"),
        Check("breaches", WARNING if h.breaches_today else OK, f"breaches today {h.breaches_today}"),
        *_tokens(h),
    ]
    return Summary(max(c.level for c in checks), tuple(checks))
