"""Tests of the store run on the in-memory desk of tests/memdesk.py."""

from tests.memdesk import desk  # noqa: F401  (pytest finds a fixture by its name here)
from tests.pgstore import pg_url  # noqa: F401,E402  (a PostgreSQL database of the test's own)
