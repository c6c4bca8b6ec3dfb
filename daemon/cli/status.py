"""`oneassist status [--json]`: the desk on one screen, with a Nagios check's exit code.

0 OK, 1 WARNING, 2 CRITICAL, so `oneassist status` can be wired into monitoring as it
is. The verdict is daemon/core/health.py's over one store read; a store that does not
answer is CRITICAL too (nothing can be judged, and the daemon cannot work either).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import datetime
from typing import Any

from daemon.cli.common import command, with_store
from daemon.clock import Clock
from daemon.core.errors import ConfigError
from daemon.core.health import CRITICAL, LEVEL_NAMES, DeskHealth, Summary
from daemon.output import emit, table


def status_document(health: DeskHealth, summary: Summary) -> dict[str, Any]:
    values = asdict(health)
    for key, value in list(values.items()):
        if isinstance(value, datetime):
            values[key] = value.isoformat()
    values["tokens"] = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in t.items()}
                        for t in values["tokens"]]
    return {
        "state": LEVEL_NAMES[summary.level], "exit_code": summary.level, "line": summary.line,
        "checks": [{"name": c.name, "state": LEVEL_NAMES[c.level], "text": c.text} for c in summary.checks],
        "values": values,
    }


def format_status(doc: dict[str, Any]) -> str:
    rows = [{"check": c["name"], "state": c["state"], "detail": c["text"]} for c in doc["checks"]]
    return f"{doc['line']}\n\n{table(rows, ('check', 'state', 'detail'))}"


def cmd_status(args: argparse.Namespace, clock: Clock) -> int:
    from daemon.runners.health import read_summary

    try:
        settings = with_store(args)
        health, summary = read_summary(settings, clock.now())
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store failure is the CRITICAL answer, not a traceback
        doc = {"state": "CRITICAL", "exit_code": CRITICAL, "line": f"CRITICAL: store: {exc}"[:300],
               "checks": [], "values": {}}
        emit(doc, args.json, lambda d: d["line"])
        return CRITICAL
    emit(status_document(health, summary), args.json, format_status)
    return summary.level


def register(sub: Any) -> None:
    command(sub, "status", cmd_status,
            "is the desk healthy? one screen; exit 0 OK, 1 WARNING, 2 CRITICAL (a Nagios check)")
