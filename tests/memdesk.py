"""An in-memory store and settings for tests of the glue without servers.

`desk` (a fixture) runs the ingest runner over an in-memory SQLite store, fed spool entries
directly; tests/runners/ and tests/store/ take it through their conftest.py.
"""

import os
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.cli.client import add_client
from daemon.clock import FrozenClock
from daemon.config import Settings, parse_settings
from daemon.render.notices import Notifier
from daemon.runners.ingest import Pipeline
from store import spool
from store.db import close_db, init_db

START = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def make_settings(tmp_path: Path, **service) -> Settings:
    return parse_settings({
        "imap": {"host": "imap.test", "username": "support@desk.test", "password": "x"},
        "smtp": {"host": "smtp.test", "from_address": "support@desk.test"},
        "service": {"reply_token_secret": secrets.token_urlsafe(32), "autoreply_limit_per_day": 3, **service},
        "store": {"url": "sqlite:///:memory:"},
        "staff": [{"email": "anna@desk.test", "name": "Анна", "role": "manager"},
                  {"email": "ops@desk.test", "name": "Ops", "role": "admin", "language": "en"}],
        "tariffs": [{"code": "basis", "name": "Basis", "price": "4900", "quota": 3}],
    }, tmp_path)


class Desk:
    """The pipeline over an in-memory store, fed spool entries directly."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = FrozenClock(START)
        self.pipeline = Pipeline(settings, self.clock, Notifier(settings))
        self.uid = 0

    def deliver(self, raw: bytes, mailbox: str = "INBOX", uidvalidity: int = 1) -> str:
        self.uid += 1
        spool.put_many("support@imap.test", mailbox, uidvalidity,
                       [spool.Fetched(self.uid, raw, self.clock.now())], self.clock.now())
        (entry_id,) = spool.pending_ids()
        return self.pipeline.process_one(entry_id)

    def client(self, email: str, name: str = "Иван", lang: str = "ru", aliases=()) -> None:
        add_client(self.settings, email=email, name=name, tariff="basis", manager="anna@desk.test",
                   language=lang, aliases=list(aliases), now=self.clock.now())


@pytest.fixture
def desk(tmp_path):
    settings = make_settings(tmp_path)
    if os.environ.get("ONEASSIST_TEST_STORE") == "postgresql":
        # The same tests on PostgreSQL: ONEASSIST_TEST_STORE=postgresql pytest tests/store tests/runners
        from tests.pgstore import fresh_database

        with fresh_database("oa_memdesk") as url:
            settings = replace(settings, store_url=url)
            init_db(url)
            try:
                yield Desk(settings)
            finally:
                close_db()
        return
    init_db(settings.store_url)
    yield Desk(settings)
    close_db()
