"""The store and exports are owner-only whatever the umask (docs/reliability.md case 28; issue 9 finding 8).

The SQLite file holds every raw mail; outside systemd (no UMask=0077) Wave 1 created it 0644
in a 0755 folder, and `export -o` wrote all raw mail with the process umask.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.cli import main
from store.db import close_db, init_db
from store.models import Client


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _write_something() -> None:
    from datetime import UTC, datetime

    Client.create(email="c@x.test", name="C", tariff="basis", manager_email="anna@desk.test",
                  created_at=datetime.now(UTC))


def test_new_store_file_wal_shm_and_folders_are_owner_only(tmp_path, umask):
    """Finding 8: the store, its -wal/-shm and the folders made for it: 0600/0700."""
    db = tmp_path / "var" / "lib" / "desk.db"
    init_db(f"sqlite:///{db}")
    try:
        _write_something()
        # Still open, so the WAL and the shared-memory index exist now.
        files = [db, db.with_name("desk.db-wal"), db.with_name("desk.db-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(mode(f)) for f in files} == {f.name: "0o600" for f in files}
        assert oct(mode(tmp_path / "var")) == oct(mode(db.parent)) == "0o700"
    finally:
        close_db()


def test_store_files_left_open_by_an_older_version_are_tightened(tmp_path, caplog):
    db = tmp_path / "desk.db"
    init_db(f"sqlite:///{db}")
    _write_something()
    close_db()
    for path in (db, db.with_name("desk.db-wal")):
        if path.exists():
            path.chmod(0o644)
    tmp_path.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="oneassist.store"):
        init_db(f"sqlite:///{db}")
    try:
        assert mode(db) == 0o600
        assert all(mode(p) == 0o600 for p in tmp_path.glob("desk.db-*"))
        # An existing folder is the admin's: named in a warning, not chmodded behind their back.
        assert mode(tmp_path) == 0o755
        assert any("chmod 700" in r.getMessage() for r in caplog.records)
    finally:
        close_db()
        tmp_path.chmod(0o700)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "desk.toml"
    path.write_text(f"""
[imap]
host = "127.0.0.1"
security = "none"
username = "support@desk.test"
password = "x"
[smtp]
host = "127.0.0.1"
security = "none"
from_address = "support@desk.test"
[store]
url = "sqlite:///{tmp_path / 'state' / 'desk.db'}"
[service]
reply_token_secret = "{secrets.token_urlsafe(32)}"
""", encoding="utf-8")
    path.chmod(0o600)
    return path


def test_export_file_is_owner_only(tmp_path, umask, capsys):
    """Finding 8: `oneassist export -o FILE` writes 0600, also over an existing 0644 file."""
    config = _config(tmp_path)
    out = tmp_path / "export.json"
    try:
        assert main(["--config", str(config), "export", "-o", str(out)]) == 0
        assert mode(out) == 0o600
        assert json.loads(out.read_text(encoding="utf-8"))["format"] == "oneassist-export/1"
        out.chmod(0o644)
        assert main(["--config", str(config), "export", "-o", str(out)]) == 0
        assert mode(out) == 0o600
        # No temporary file is left behind.
        assert sorted(p.name for p in tmp_path.iterdir()) == ["desk.toml", "export.json", "state"]
        assert mode(tmp_path / "state") == 0o700
    finally:
        close_db()
