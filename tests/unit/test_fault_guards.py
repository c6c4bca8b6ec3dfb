"""The small guards of issue 14 on values: the send window, the repeated-text memory, store health."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import peewee

from daemon.runners.rate import RateWindow
from daemon.runners.repeats import RepeatedText
from daemon.runners.store_health import StoreHealth, read_store_health
from store.db import unavailable_reason


def test_the_send_window_allows_the_minutes_share_then_rolls_on():
    now = [100.0]
    window = RateWindow(3, clock=lambda: now[0])
    assert window.room() == 3
    window.spent(2)
    assert window.room() == 1
    window.spent(1)
    assert window.room() == 0
    now[0] += 59.9
    assert window.room() == 0
    now[0] += 0.2
    assert window.room() == 3


def test_the_third_same_task_in_a_day_is_repeated_a_new_subject_is_not():
    memory = RepeatedText()
    t = datetime(2026, 11, 30, 8, tzinfo=UTC)
    assert not memory.repeated("a@x.test", "Я в отпуске", "Вернусь  в понедельник", t)
    assert not memory.repeated("A@x.test", "я в отпуске", "Вернусь в понедельник", t + timedelta(minutes=1))
    assert memory.repeated("a@x.test", "Я в отпуске", "Вернусь в понедельник", t + timedelta(minutes=2))
    assert not memory.repeated("a@x.test", "Другая задача", "Вернусь в понедельник", t + timedelta(minutes=3))
    assert not memory.repeated("b@x.test", "Я в отпуске", "Вернусь в понедельник", t + timedelta(minutes=4))
    # A day later the count starts again.
    assert not memory.repeated("a@x.test", "Я в отпуске", "Вернусь в понедельник", t + timedelta(days=2))


def test_store_errors_are_told_apart_from_bugs():
    assert unavailable_reason(peewee.OperationalError("database is locked")) == "database is locked"
    assert unavailable_reason(peewee.InterfaceError("connection already closed"))
    assert unavailable_reason(peewee.OperationalError("no such column: x")) is None
    assert unavailable_reason(peewee.IntegrityError("UNIQUE constraint failed")) is None
    assert unavailable_reason(ValueError("database is locked")) is None
    try:
        try:
            raise peewee.OperationalError("disk I/O error")
        except peewee.OperationalError:
            raise peewee.OperationalError("cannot rollback - no transaction is active") from None
    except peewee.OperationalError as exc:
        exc.__context__ = peewee.OperationalError("disk I/O error")
        assert unavailable_reason(exc) == "disk I/O error"


def test_store_health_logs_once_a_minute_and_keeps_the_state_in_a_file(tmp_path, caplog):
    now = [datetime(2026, 11, 30, 8, tzinfo=UTC)]
    health = StoreHealth(tmp_path, lambda: now[0])
    caplog.set_level(logging.INFO, logger="oneassist.store")
    for _ in range(12):  # a failure every 5 s for a minute, from two loops
        health.failed("fetch", "database is locked")
        health.failed("outbox", "database is locked")
        now[0] += timedelta(seconds=5)
    health.failed("fetch", "database is locked")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2  # the first, and one a minute later
    state = read_store_health(tmp_path)
    assert state["state"] == "unavailable" and state["failures"] == 25
    health.ok("outbox")
    assert read_store_health(tmp_path)["state"] == "ok"
    assert json.loads((tmp_path / "store-health.json").read_text())["last_error"] == ""


def test_a_daemon_started_after_an_outage_clears_the_old_state_once_it_writes(tmp_path):
    now = datetime(2026, 11, 30, 8, tzinfo=UTC)
    StoreHealth(tmp_path, lambda: now).failed("fetch", "database is locked")
    fresh = StoreHealth(tmp_path, lambda: now + timedelta(minutes=5))
    assert fresh.failing
    fresh.ok("fetch")
    assert read_store_health(tmp_path)["state"] == "ok"
