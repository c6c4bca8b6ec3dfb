"""The operating sections of the config (issue 13): `[metrics]` and `[retention]`.

Apart from daemon/config.py so each file keeps one job; parse_settings() calls
ops_settings() and every key is checked here with an error that names it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from daemon.config_keys import Section
from daemon.core.errors import ConfigError
from daemon.core.settings import MetricsSettings, RetentionSettings

OPS_SECTIONS = ("metrics", "retention")


def _metrics(sec: Section) -> MetricsSettings:
    listen = sec.get("listen", str, "").strip()
    if not listen:
        return MetricsSettings()
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(f"metrics.listen = {listen!r} must be HOST:PORT, e.g. \"127.0.0.1:9464\"")
    if not _loopback_ip(host):
        # The endpoint has no authentication: it says how busy the desk is and who is late.
        raise ConfigError(f"metrics.listen = {listen!r} must be a loopback address (127.0.0.1 or [::1]); "
                          f"put a reverse proxy with authentication in front to scrape it from elsewhere")
    return MetricsSettings(host=host, port=int(port_text))


def _loopback_ip(host: str) -> bool:
    # An address, not a name: what a name resolves to can change under the daemon.
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retention(sec: Section) -> RetentionSettings:
    raw = sec.positive("raw_mail_days", RetentionSettings.raw_mail_days)
    tickets = sec.positive("ticket_days", RetentionSettings.ticket_days)
    if raw > tickets:
        raise ConfigError(f"retention.raw_mail_days = {raw:g} must not be more than retention.ticket_days = "
                          f"{tickets:g}: the raw mail goes with its ticket at the latest")
    return RetentionSettings(raw_mail_days=raw, ticket_days=tickets)


def ops_settings(data: dict[str, Any]) -> dict[str, Any]:
    """The Settings fields of the operating sections, checked; unknown keys are refused."""
    metrics, retention = Section("metrics", data.get("metrics")), Section("retention", data.get("retention"))
    values = {"metrics": _metrics(metrics), "retention": _retention(retention)}
    metrics.check_unknown()
    retention.check_unknown()
    return values
