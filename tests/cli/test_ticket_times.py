"""`ticket list` and `ticket show` print times for people in the service timezone, to the minute,
with the zone; `--json` keeps ISO 8601 with the offset (issue 15: they printed UTC with microseconds).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from daemon.cli import main
from daemon.clock import FrozenClock
from tests.cli.test_frozen_clock import add_ivan, config  # noqa: F401 - the fixture

T0 = datetime(2026, 3, 15, 9, 0, 12, 345678, tzinfo=UTC)  # 12:00:12.345678 in Moscow


def test_ticket_list_and_show_print_moscow_time_to_the_minute_and_json_keeps_iso(config, capsys, tmp_path):  # noqa: F811
    clock = FrozenClock(T0)
    add_ivan(config, clock, capsys)
    body = tmp_path / "task.txt"
    body.write_text("Столик на двоих", encoding="utf-8")
    assert main(["--config", config, "ticket", "new", "--client", "ivan@client.test", "--subject", "Столик",
                 "--body-file", str(body)], clock) == 0
    capsys.readouterr()

    assert main(["--config", config, "ticket", "list"], clock) == 0
    listed = capsys.readouterr().out
    assert "2026-03-15 12:00 UTC+3" in listed, listed
    assert "09:00" not in listed and "345678" not in listed and "+00:00" not in listed

    assert main(["--config", config, "ticket", "show", "OA-1"], clock) == 0
    shown = capsys.readouterr().out
    assert "created: 2026-03-15 12:00 UTC+3" in shown, shown
    timeline = [line for line in shown.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert timeline and all(line.startswith("2026-03-15 12:00 UTC+3  ") for line in timeline), shown

    assert main(["--config", config, "--json", "ticket", "list"], clock) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert datetime.fromisoformat(row["created_at"]) == T0
    assert row["created_at"].endswith("+00:00")
    assert main(["--config", config, "--json", "ticket", "show", "OA-1"], clock) == 0
    doc = json.loads(capsys.readouterr().out)
    assert datetime.fromisoformat(doc["created_at"]) == T0
