"""The settings as frozen values: what daemon/config.py makes of the TOML file.

Pure values, so the core and the store can take them without the loader: reading
files, modes, password commands and validation stay in daemon/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from parsers.addresses import safe_lower
from parsers.tokens import CLIENT_TOKEN_LABEL, STAFF_TOKEN_LABEL, derive_key
from parsers.verp import VERP_LABEL


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    oauth2_token_command: str | None
    folder: str
    processed_folder: str
    quarantine_folder: str
    poll_seconds: float
    idle: bool
    idle_renew_seconds: float
    fetch_batch: int
    max_message_bytes: int
    insecure_skip_verify: bool
    # AUTH over a connection without TLS to a host that is not loopback (explicit opt-in).
    allow_plaintext_auth: bool = False
    # Issue 11: every liveness_seconds the fetcher leaves IDLE and sends NOOP; a reply that
    # takes longer than liveness_timeout_seconds means the connection is dead.
    liveness_seconds: float = 60.0
    liveness_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    from_address: str
    bounce_address: str
    connections: int
    timeout_seconds: float
    max_attempts: int
    insecure_skip_verify: bool
    allow_plaintext_auth: bool = False
    # "password" (AUTH PLAIN/LOGIN) or "xoauth2" with oauth2_token_command (issue 13).
    auth: str = "password"
    oauth2_token_command: str | None = None
    # Mails handed to the relay per rolling minute (docs/reliability.md case 35).
    max_per_minute: int = 120


@dataclass(frozen=True)
class StaffMember:
    email: str
    name: str
    role: str
    language: str


@dataclass(frozen=True)
class Tariff:
    code: str
    name: str
    price: Decimal
    currency: str
    quota: int | None
    quota_period: str
    billing_period: str
    dedicated: bool
    around_the_clock: bool


@dataclass(frozen=True)
class ServiceSettings:
    name: str
    timezone: ZoneInfo
    language: str
    ticket_prefix: str
    # service.reply_token_secret as configured; never a key itself (see derived_key).
    token_secret: bytes = field(repr=False)
    autoreply_limit_per_day: int
    join_url: str
    data_dir: Path
    # Flood caps (issue 9, finding 9): per source and hour for admin alerts and staff
    # notifications (the surplus goes into one digest), and "how to join" replies per hour.
    alerts_per_source_per_hour: int = 3
    staff_notifications_per_source_per_hour: int = 10
    join_replies_per_hour: int = 20
    # A task that waited longer than this gets no usual ack (docs/reliability.md case 35).
    late_ack_hours: float = 4.0

    def derived_key(self, label: bytes) -> bytes:
        """A key of its own for one use of the secret (HKDF, parsers.tokens.derive_key)."""
        return derive_key(self.token_secret, label)

    @property
    def reply_token_secret(self) -> bytes:
        """The key of clients' reply addresses."""
        return self.derived_key(CLIENT_TOKEN_LABEL)

    @property
    def verp_secret(self) -> bytes:
        """The key of the VERP envelope senders (parsers/verp.py): a DSN names our outbox row."""
        return self.derived_key(VERP_LABEL)

    @property
    def staff_token_secret(self) -> bytes:
        # Staff reply addresses use a key of their own, derived apart: a client who knows
        # the reply address of their own ticket must not be able to act as staff.
        return self.derived_key(STAFF_TOKEN_LABEL)


@dataclass(frozen=True)
class SlaSettings:
    first_response_minutes: float
    reminder_minutes: float
    due_warning_minutes: float = 60
    client_notice_minutes: float = 15
    client_reminder_days: float = 2
    auto_close_days: float = 7
    pause_due_while_waiting: bool = True
    backup_manager: str = ""
    tick_seconds: float = 5
    # None: the clock runs 24/7.
    calendar: Any = None


@dataclass(frozen=True)
class StaffMailSettings:
    # Answer every tag mail with a transcript of what was applied (Debbugs-style).
    transcripts: bool
    # authserv-ids of our own MX whose Authentication-Results we believe.
    trusted_authserv_ids: frozenset[str]
    # token-or-dkim (default) or token-and-dkim (stricter).
    auth: str
    # Due time of `#accept` without WHEN.
    default_due_hours: float
    # Verify DKIM signatures ourselves (dkimpy) when no trusted Authentication-Results passes.
    verify_dkim: bool = False
    # Offline DKIM keys: a JSON object {"sel._domainkey.example.com.": "v=DKIM1; k=rsa; p=..."},
    # used instead of DNS (air-gapped hosts, tests).
    dkim_keys: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BillingSettings:
    # Renewal invoices go out this many days before a billing period ends; they are due at its end.
    renewal_days: int
    # Unpaid this many days after the due date: the client is suspended (a reminder goes at the due date).
    grace_days: int
    # Top-up invoices round the shortfall up to this step.
    top_up_step: Decimal
    # Issue renewal invoices automatically (off: only `invoice issue` and #invoice).
    auto_renewal: bool = True


@dataclass(frozen=True)
class LimitsSettings:
    """CPU per stage of one mail and files per sent mail (docs/reliability.md cases 38 and 40)."""

    stage_cpu_seconds: float = 2.0
    max_files_per_mail: int = 20
    # A staff answer's file over this size is not relayed to the client; the transcript names it.
    max_file_bytes: int = 10 * 1024 * 1024
    # Hard bounces after which a client's address is marked undeliverable (client show).
    hard_bounce_limit: int = 2


@dataclass(frozen=True)
class MetricsSettings:
    """The Prometheus endpoint (issue 13): off unless `[metrics] listen` names a loopback address."""

    host: str = ""
    port: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class RetentionSettings:
    """How long the desk keeps what it holds about closed tickets (issue 13, 152-FZ)."""

    # Raw mail (spool and outbox bytes, attachments) of tickets closed this long ago.
    raw_mail_days: float = 180
    # The ticket itself (metadata and stored text) closed this long ago; invoices stay.
    ticket_days: float = 1095


@dataclass(frozen=True)
class LeaseSettings:
    """Several daemons on one store ([store] keys): how long a claim holds, how often a
    standby tries for the fetch lock."""

    # A spool entry or an outbox row a worker took is its own for this long; a worker that
    # died leaves it to the others after this (renewed while the work goes on).
    lease_seconds: int = 120
    fetch_lock_retry_seconds: float = 2.0


@dataclass(frozen=True)
class RunSettings:
    """`oneassist run` as a master and its child processes (issue 11)."""

    # 0: the default for the store (1 on SQLite, the core count on PostgreSQL).
    ingest_workers: int = 0
    # A child this late with the heartbeat it promised stops the watchdog pings ...
    heartbeat_slack_seconds: float = 30.0
    # ... and this late it is killed and started again.
    stall_seconds: float = 300.0


@dataclass(frozen=True)
class Settings:
    imap: ImapSettings
    smtp: SmtpSettings
    store_url: str
    service: ServiceSettings
    sla: SlaSettings
    staff: tuple[StaffMember, ...]
    tariffs: tuple[Tariff, ...]
    log_level: str
    staff_mail: StaffMailSettings = StaffMailSettings(True, frozenset(), "token-or-dkim", 24)
    billing: BillingSettings = BillingSettings(5, 7, Decimal("1000"))
    limits: LimitsSettings = LimitsSettings()
    source: Path | None = None
    metrics: MetricsSettings = MetricsSettings()
    retention: RetentionSettings = RetentionSettings()
    leases: LeaseSettings = LeaseSettings()
    run: RunSettings = RunSettings()
    # store.lock_wait_seconds: how long a write waits for another connection's SQLite
    # write lock before the store counts as unavailable (docs/reliability.md case 8).
    store_lock_wait_seconds: float = 30.0

    def staff_by_email(self, email: str) -> StaffMember | None:
        # Not str.lower(): it folds a Kelvin sign into 'k' and so into a staff address.
        email = safe_lower(email)
        for member in self.staff:
            if member.email == email:
                return member
        return None

    def tariff(self, code: str) -> Tariff | None:
        for tariff in self.tariffs:
            if tariff.code.lower() == code.lower():
                return tariff
        return None

    @property
    def admins(self) -> tuple[StaffMember, ...]:
        return tuple(m for m in self.staff if m.role == "admin")

    @property
    def loop_id(self) -> str:
        return self.smtp.from_address
