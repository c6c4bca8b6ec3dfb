"""Tests of the runners run on the in-memory desk of tests/memdesk.py."""

from tests.memdesk import desk  # noqa: F401  (pytest finds a fixture by its name here)
