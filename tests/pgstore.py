"""A PostgreSQL database of its own for a test, on the machine's server (127.0.0.1:5432).

Each test gets a database with a unique name, dropped afterwards (the server is shared).
Without a reachable server the test is skipped with the reason, except under CI=true (or
ONEASSIST_REQUIRE_POSTGRES=1): CI has the server, so there an unreachable one is a failure.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

HOST, PORT, ADMIN_DB, USER = "127.0.0.1", 5432, "test", "postgres"


def _required() -> bool:
    return (os.environ.get("CI", "").lower() in ("true", "1", "yes")
            or os.environ.get("ONEASSIST_REQUIRE_POSTGRES", "") == "1")


def admin():
    """An autocommit connection to the server's maintenance database, or skip/fail."""
    import psycopg2

    try:
        conn = psycopg2.connect(host=HOST, port=PORT, dbname=ADMIN_DB, user=USER, connect_timeout=5)
    except psycopg2.Error as exc:
        reason = f"no PostgreSQL on {HOST}:{PORT} (database {ADMIN_DB!r}, user {USER!r}): {str(exc).strip()}"
        if _required():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    conn.autocommit = True
    return conn


@contextlib.contextmanager
def fresh_database(prefix: str = "oa_test") -> Iterator[str]:
    """CREATE a uniquely named database; yields its URL; DROPs it (closing its sessions) after."""
    conn = admin()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{USER}@{HOST}:{PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            # A daemon a test killed may still hold a session for a moment.
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url
