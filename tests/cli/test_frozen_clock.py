"""Every CLI command sees the clock main() is given (issue 10: the CLI read the real clock in 8 places).

With the old code main() took no clock, and `client add`, `client show`, `invoice issue`,
`report billing`, `report sla` and `export` each read datetime.now() themselves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from daemon.cli import main
from daemon.clock import FrozenClock
from store.db import close_db, from_db
from store.models import Client

T0 = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "desk.toml"
    path.write_text(f'''
[imap]
host = "127.0.0.1"
username = "support@desk.test"
password = "x"
[smtp]
host = "127.0.0.1"
from_address = "support@desk.test"
[store]
url = "sqlite:///{tmp_path / 'desk.db'}"
[service]
reply_token_secret = "kT3vQ9xLm2Pz8RwYc4NbHf6JdUa1SeGo7VqXiBt5"
timezone = "Europe/Moscow"
data_dir = "{tmp_path}"
[[staff]]
email = "anna@desk.test"
name = "Анна"
role = "manager"
[[tariffs]]
code = "basis"
name = "Basis"
price = "4900"
quota = 3
''', encoding="utf-8")
    path.chmod(0o600)
    yield str(path)
    close_db()


def run(config: str, clock: FrozenClock, capsys, *argv: str):
    capsys.readouterr()
    code = main(["--config", config, "--json", *argv], clock)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out) if out.strip() else None


def add_ivan(config, clock, capsys):
    run(config, clock, capsys, "client", "add", "ivan@client.test", "--name", "Иван", "--tariff", "basis",
        "--manager", "anna@desk.test")


def test_client_registered_and_shown_at_the_injected_time(config, capsys):
    clock = FrozenClock(T0)
    add_ivan(config, clock, capsys)
    assert from_db(Client.get().created_at) == T0
    shown = run(config, clock, capsys, "client", "show", "ivan@client.test")
    # The quota day is the frozen clock's (in Moscow), not today's.
    assert shown["quota"]["period"] == "day"
    assert (shown["quota"]["from"], shown["quota"]["to"]) == ("2026-03-15T00:00:00+03:00",
                                                             "2026-03-16T00:00:00+03:00")


def test_invoice_due_and_overdue_follow_the_injected_clock(config, capsys):
    clock = FrozenClock(T0)
    add_ivan(config, clock, capsys)
    invoice = run(config, clock, capsys, "invoice", "issue", "ivan@client.test", "--amount", "1500")
    assert invoice["issued_at"] == T0.isoformat()
    assert invoice["due_at"] == datetime(2026, 3, 22, 9, 0, tzinfo=UTC).isoformat()
    (row,) = run(config, clock, capsys, "report", "billing")["tariffs"]
    assert (row["open_invoices"], row["overdue_invoices"]) == (1, 0)
    clock.advance(days=8)
    (row,) = run(config, clock, capsys, "report", "billing")["tariffs"]
    assert (row["open_invoices"], row["overdue_invoices"]) == (1, 1)


def test_relative_when_and_export_stamp_use_the_injected_clock(config, capsys):
    clock = FrozenClock(T0)
    add_ivan(config, clock, capsys)
    report = run(config, clock, capsys, "report", "sla", "--from", "+1d")
    assert report["from"] == "2026-03-16T12:00:00+03:00"
    exported = run(config, clock, capsys, "export")
    assert exported["exported_at"] == T0.isoformat()
