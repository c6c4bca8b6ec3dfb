"""TOML configuration -> frozen Settings, validated once at start-up.

Every key is checked here and every error names the key and how to fix it,
so the rest of the daemon receives typed values and never the raw dict.
Secrets (password_file, password_command) are resolved once, at load.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daemon.config_keys import Section, check_file_mode, email_value
from daemon.config_ops import OPS_SECTIONS, ops_settings
from daemon.config_run import leases_settings, run_settings
from daemon.core.errors import ConfigError
from daemon.core.settings import (
    BillingSettings,
    ImapSettings,
    LimitsSettings,
    RunSettings,
    ServiceSettings,
    Settings,
    SlaSettings,
    SmtpSettings,
    StaffMailSettings,
    StaffMember,
    Tariff,
)
from parsers.tokens import secret_weakness

# The settings types are pure values (daemon/core/settings.py) so the store and the core can
# take them; this module only reads and checks a file into them. Re-exported for callers.
__all__ = [
    "BillingSettings", "ImapSettings", "LimitsSettings", "RunSettings", "ServiceSettings", "Settings",
    "SlaSettings", "SmtpSettings", "StaffMailSettings", "StaffMember", "Tariff",
    "check_file_mode", "is_loopback_host", "load", "parse_settings", "plaintext_auth_refusal",
]

SECURITY_MODES = ("ssl", "starttls", "none")
ROLES = ("manager", "assistant", "admin")
LANGUAGES = ("ru", "en")


def _limits(sec: Section) -> LimitsSettings:
    return LimitsSettings(
        stage_cpu_seconds=sec.positive("stage_cpu_seconds", 2.0),
        max_files_per_mail=int(sec.positive("max_files_per_mail", 20)),
        max_file_bytes=int(sec.positive("max_file_bytes", 10 * 1024 * 1024)),
        hard_bounce_limit=int(sec.positive("hard_bounce_limit", 2)),
    )


def is_loopback_host(host: str) -> bool:
    """True for a loopback address or the name localhost (RFC 6761); no DNS lookup.

    A name that merely resolves to 127.0.0.1 does not count: /etc/hosts or DNS can change.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plaintext_auth_refusal(section: str, settings: ImapSettings | SmtpSettings) -> str | None:
    """Why the settings of [section] would send a password in clear, or None if they do not.

    AUTH without TLS is refused unless the server is on loopback (the sandbox and the
    test rig) or the admin said `allow_plaintext_auth = true` for that section.
    """
    logs_in = bool(settings.username) or bool(getattr(settings, "oauth2_token_command", None))
    if settings.security != "none" or not logs_in:
        return None
    if settings.allow_plaintext_auth or is_loopback_host(settings.host):
        return None
    return (f"{section}.security = \"none\" would send the password of {section}.username in "
            f"clear text to {settings.host}: set {section}.security = \"ssl\" or \"starttls\" "
            f"(the server must offer TLS), or, only on a network you trust, "
            f"{section}.allow_plaintext_auth = true")


def _refuse_plaintext_auth(section: str, settings: ImapSettings | SmtpSettings) -> None:
    problem = plaintext_auth_refusal(section, settings)
    if problem:
        raise ConfigError(problem)


def _imap(sec: Section) -> ImapSettings:
    security = sec.choice("security", SECURITY_MODES, "ssl")
    settings = ImapSettings(
        host=sec.get("host", str, hint="Set it to your IMAP server, e.g. host = \"imap.example.com\""),
        port=sec.port("port", {"ssl": 993}.get(security, 143)),
        security=security,
        username=sec.get("username", str, hint="The login of the support mailbox."),
        password=sec.secret("password"),
        oauth2_token_command=sec.get("oauth2_token_command", str, None),
        folder=sec.get("folder", str, "INBOX"),
        processed_folder=sec.get("processed_folder", str, "OneAssist/Processed"),
        quarantine_folder=sec.get("quarantine_folder", str, "OneAssist/Quarantine"),
        poll_seconds=sec.positive("poll_seconds", 60),
        idle=sec.get("idle", bool, True),
        idle_renew_seconds=sec.positive("idle_renew_seconds", 25 * 60),
        fetch_batch=int(sec.positive("fetch_batch", 100)),
        max_message_bytes=int(sec.positive("max_message_bytes", 40 * 1024 * 1024)),
        insecure_skip_verify=sec.get("insecure_skip_verify", bool, False),
        allow_plaintext_auth=sec.get("allow_plaintext_auth", bool, False),
        liveness_seconds=sec.positive("liveness_seconds", 60),
        liveness_timeout_seconds=sec.positive("liveness_timeout_seconds", 30),
    )
    _refuse_plaintext_auth("imap", settings)
    return settings


def _smtp(sec: Section) -> SmtpSettings:
    security = sec.choice("security", SECURITY_MODES, "starttls")
    from_address = email_value(sec, "from_address", ...)
    settings = SmtpSettings(
        host=sec.get("host", str, hint="Set it to your SMTP relay, e.g. host = \"smtp.example.com\""),
        port=sec.port("port", {"ssl": 465, "starttls": 587}.get(security, 25)),
        security=security,
        username=sec.get("username", str, ""),
        password=sec.secret("password"),
        from_address=from_address,
        bounce_address=email_value(sec, "bounce_address", "") or _bounce_default(from_address),
        connections=int(sec.positive("connections", 2)),
        timeout_seconds=sec.positive("timeout_seconds", 60),
        max_attempts=int(sec.positive("max_attempts", 12)),
        insecure_skip_verify=sec.get("insecure_skip_verify", bool, False),
        allow_plaintext_auth=sec.get("allow_plaintext_auth", bool, False),
        auth=sec.choice("auth", ("password", "xoauth2"), "password"),
        oauth2_token_command=sec.get("oauth2_token_command", str, None),
        max_per_minute=int(sec.positive("max_per_minute", 120)),
    )
    if settings.auth == "xoauth2" and not (settings.oauth2_token_command and settings.username):
        raise ConfigError("smtp.auth = \"xoauth2\" needs smtp.username (the mailbox) and "
                          "smtp.oauth2_token_command (a command printing a fresh access token)")
    _refuse_plaintext_auth("smtp", settings)
    return settings


def _bounce_default(from_address: str) -> str:
    # A bounce envelope different from the intake address keeps DSNs out of the
    # ticket intake (docs/reliability.md case 19).
    local, _, domain = from_address.partition("@")
    return f"{local}+bounces@{domain}"


MAKE_SECRET = ("Make one with `oneassist secret` and paste it in; changing it invalidates the "
               "reply addresses already sent")


def _service(sec: Section, base: Path) -> ServiceSettings:
    tz_name = sec.get("timezone", str, "Europe/Moscow")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"service.timezone = {tz_name!r} is not a known zone, e.g. \"Europe/Moscow\"") from None
    secret = sec.get("reply_token_secret", str, hint=MAKE_SECRET)
    weakness = secret_weakness(secret)
    if weakness:
        raise ConfigError(f"service.reply_token_secret is refused: {weakness}. {MAKE_SECRET}")
    prefix = sec.get("ticket_prefix", str, "OA")
    if not prefix.isalnum() or not prefix.isascii():
        raise ConfigError(f"service.ticket_prefix = {prefix!r} must be ASCII letters/digits, e.g. \"OA\"")
    data_dir = Path(sec.get("data_dir", str, str(base / "data"))).expanduser()
    if not data_dir.is_absolute():
        data_dir = base / data_dir
    return ServiceSettings(
        name=sec.get("name", str, "OneAssist"),
        timezone=tz,
        language=sec.choice("language", LANGUAGES, "ru"),
        ticket_prefix=prefix.upper(),
        token_secret=secret.encode(),
        autoreply_limit_per_day=int(sec.positive("autoreply_limit_per_day", 40)),
        join_url=sec.get("join_url", str, ""),
        data_dir=data_dir,
        alerts_per_source_per_hour=int(sec.positive("alerts_per_source_per_hour", 3)),
        staff_notifications_per_source_per_hour=int(sec.positive("staff_notifications_per_source_per_hour", 10)),
        join_replies_per_hour=int(sec.positive("join_replies_per_hour", 20)),
        late_ack_hours=sec.positive("late_ack_hours", 4),
    )


def _staff(items: Any) -> tuple[StaffMember, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ConfigError("[[staff]] must be an array of tables: write each member as [[staff]]")
    members: list[StaffMember] = []
    for i, item in enumerate(items):
        sec = Section(f"staff[{i}]", item)
        member = StaffMember(
            email=email_value(sec, "email"),
            name=sec.get("name", str),
            role=sec.choice("role", ROLES, "manager"),
            language=sec.choice("language", LANGUAGES, "ru"),
        )
        sec.check_unknown()
        if any(m.email == member.email for m in members):
            raise ConfigError(f"staff[{i}].email = {member.email!r} appears twice in [[staff]]")
        members.append(member)
    return tuple(members)


def _tariffs(items: Any) -> tuple[Tariff, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ConfigError("[[tariffs]] must be an array of tables: write each tariff as [[tariffs]]")
    tariffs: list[Tariff] = []
    for i, item in enumerate(items):
        sec = Section(f"tariffs[{i}]", item)
        raw_price = sec.get("price", (str, int), "0")
        try:
            # Money never touches float: a price is a string or an integer.
            price = Decimal(str(raw_price))
        except InvalidOperation:
            raise ConfigError(f"tariffs[{i}].price = {raw_price!r} is not an amount; write it as a string, e.g. \"4900.00\"") from None
        if price < 0:
            raise ConfigError(f"tariffs[{i}].price must not be negative")
        quota = sec.get("quota", int, 0)
        tariffs.append(Tariff(
            code=sec.get("code", str),
            name=sec.get("name", str),
            price=price,
            currency=sec.get("currency", str, "RUB"),
            quota=quota if quota > 0 else None,
            # "none": a one-off tariff (quota 1 for one task): no quota rollover, no renewal.
            quota_period=sec.choice("quota_period", ("day", "week", "month", "none"), "day"),
            billing_period=sec.choice("billing_period", ("month", "none"), "month"),
            dedicated=sec.get("dedicated", bool, False),
            around_the_clock=sec.get("around_the_clock", bool, False),
        ))
        sec.check_unknown()
    return tuple(tariffs)


def _sla(sec: Section, service: ServiceSettings) -> SlaSettings:
    from daemon.core.sla import calendar_from_config, country_of
    from daemon.production_calendar import official_days

    raw_calendar = sec.get("calendar", dict, None)
    try:
        calendar = None
        if raw_calendar is not None:
            # The official days off come from the `holidays` package (country RU by default).
            official = official_days(country_of(raw_calendar), datetime.now(service.timezone).date())
            calendar = calendar_from_config(raw_calendar, service.timezone, official)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return SlaSettings(
        first_response_minutes=sec.positive("first_response_minutes", 15),
        reminder_minutes=sec.positive("reminder_minutes", 10),
        due_warning_minutes=sec.positive("due_warning_minutes", 60),
        client_notice_minutes=sec.positive("client_notice_minutes", 15),
        client_reminder_days=sec.positive("client_reminder_days", 2),
        auto_close_days=sec.positive("auto_close_days", 7),
        pause_due_while_waiting=sec.get("pause_due_while_waiting", bool, True),
        backup_manager=email_value(sec, "backup_manager", ""),
        tick_seconds=sec.positive("tick_seconds", 5),
        calendar=calendar,
    )


def _billing(sec: Section) -> BillingSettings:
    raw_step = sec.get("top_up_step", (str, int), "1000")
    try:
        step = Decimal(str(raw_step))
    except InvalidOperation:
        raise ConfigError(f"billing.top_up_step = {raw_step!r} is not an amount, e.g. \"1000\"") from None
    if step <= 0:
        raise ConfigError("billing.top_up_step must be more than zero")
    return BillingSettings(
        renewal_days=int(sec.positive("renewal_days", 5)),
        grace_days=int(sec.positive("grace_days", 7)),
        top_up_step=step,
        auto_renewal=sec.get("auto_renewal", bool, True),
    )


def _staff_mail(sec: Section) -> StaffMailSettings:
    ids = sec.get("trusted_authserv_ids", list, [])
    if not all(isinstance(i, str) and i.strip() for i in ids):
        raise ConfigError("staff_mail.trusted_authserv_ids must be a list of host names, "
                          "e.g. [\"mx.example.com\"]")
    return StaffMailSettings(
        transcripts=sec.get("transcripts", bool, True),
        trusted_authserv_ids=frozenset(i.strip().lower() for i in ids),
        auth=sec.choice("auth", ("token-or-dkim", "token-and-dkim"), "token-or-dkim"),
        default_due_hours=sec.positive("default_due_hours", 24),
        verify_dkim=sec.get("verify_dkim", bool, False),
        dkim_keys=_dkim_keys(sec.get("dkim_keys_file", str, "")),
    )


def _dkim_keys(path: str) -> tuple[tuple[str, str], ...]:
    if not path:
        return ()
    import json

    try:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"staff_mail.dkim_keys_file: cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError("staff_mail.dkim_keys_file must hold a JSON object of DNS name -> TXT record")
    return tuple(sorted(data.items()))


def parse_settings(data: dict[str, Any], base: Path) -> Settings:
    """Validate a TOML document (already loaded) into Settings."""
    known = {"imap", "smtp", "store", "service", "sla", "staff", "tariffs", "log", "staff_mail", "billing",
             "limits", "run", *OPS_SECTIONS}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown section [{key}]: known sections are {', '.join(sorted(known))}")
    sections = {name: Section(name, data.get(name)) for name in ("imap", "smtp", "store", "service", "sla", "log", "staff_mail", "billing", "limits",
                                                   "run")}
    if "imap" not in data:
        raise ConfigError("[imap] section is missing: copy it from config.example.toml")
    if "smtp" not in data:
        raise ConfigError("[smtp] section is missing: copy it from config.example.toml")
    if "service" not in data:
        raise ConfigError("[service] section is missing: copy it from config.example.toml")
    service = _service(sections["service"], base)
    store_url = sections["store"].get("url", str, f"sqlite:///{service.data_dir / 'oneassist.db'}")
    if not store_url.startswith(("sqlite:///", "sqlite://:memory:", "postgresql://", "postgres://")):
        raise ConfigError(f"store.url = {store_url!r}: use sqlite:///PATH or postgresql://user@host/db")
    sla = sections["sla"]
    settings = Settings(
        imap=_imap(sections["imap"]),
        smtp=_smtp(sections["smtp"]),
        store_url=store_url,
        service=service,
        sla=_sla(sla, service),
        staff=_staff(data.get("staff")),
        tariffs=_tariffs(data.get("tariffs")),
        log_level=sections["log"].choice("level", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
        staff_mail=_staff_mail(sections["staff_mail"]),
        billing=_billing(sections["billing"]),
        limits=_limits(sections["limits"]),
        leases=leases_settings(sections["store"]),
        run=run_settings(sections["run"], store_url),
        store_lock_wait_seconds=sections["store"].positive("lock_wait_seconds", 30),
    )
    settings = replace(settings, **ops_settings(data))
    for sec in sections.values():
        sec.check_unknown()
    if settings.sla.reminder_minutes >= settings.sla.first_response_minutes:
        raise ConfigError("sla.reminder_minutes must be less than sla.first_response_minutes")
    if settings.sla.client_notice_minutes >= settings.sla.due_warning_minutes:
        raise ConfigError("sla.client_notice_minutes must be less than sla.due_warning_minutes: "
                          "the manager is warned first, the client is told later")
    if settings.sla.backup_manager and settings.staff_byemail_value(settings.sla.backup_manager) is None:
        raise ConfigError(f"sla.backup_manager = {settings.sla.backup_manager!r} is not in [[staff]]")
    return settings


def load(path: str | os.PathLike[str] | None = None, *, check_mode: bool = True) -> Settings:
    """Read the config file named by PATH or $ONEASSIST_CONFIG."""
    if path is None:
        path = os.environ.get("ONEASSIST_CONFIG")
    if not path:
        raise ConfigError("no config file: pass --config PATH or set ONEASSIST_CONFIG "
                          "(start from config.example.toml)")
    file = Path(path).expanduser()
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {file} is not UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    if check_mode:
        check_file_mode(file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return replace(parse_settings(data, file.resolve().parent), source=file)
