"""One daemon per SQLite store, one fetcher per mailbox on PostgreSQL (store/locks.py)."""

import os
import subprocess
import sys
import time

import pytest

from store.locks import FetchLock, StoreBusy, StoreLock
from tests.pgstore import fresh_database


def test_a_second_daemon_on_a_sqlite_store_is_refused_with_the_reason(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    first = StoreLock(url).acquire()
    try:
        assert first.exclusive
        with pytest.raises(StoreBusy) as refused:
            StoreLock(url).acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and "desk.db" in message and "PostgreSQL" in message
    finally:
        first.release()
    StoreLock(url).acquire().release()  # free again once the first let go


def test_a_killed_holder_frees_the_sqlite_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    code = f"from store.locks import StoreLock; StoreLock({url!r}).acquire(); print('held', flush=True); " \
           "import time; time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(StoreBusy):
            StoreLock(url).acquire()
    finally:
        holder.kill()
        holder.wait()
    StoreLock(url).acquire().release()


def test_postgresql_stores_take_no_file_lock():
    lock = StoreLock("postgresql://postgres@127.0.0.1/x").acquire()
    assert not lock.exclusive and lock.path is None


def test_one_fetcher_per_mailbox_and_a_standby_takes_over_when_it_dies():
    with fresh_database("oa_pgsafe") as url:
        holder = FetchLock(url, "support@imap/INBOX", "host-a")
        standby = FetchLock(url, "support@imap/INBOX", "host-b")
        other_box = FetchLock(url, "sales@imap/INBOX", "host-b")
        try:
            assert holder.try_acquire() and holder.alive()
            assert not standby.try_acquire()
            assert other_box.try_acquire()  # another mailbox has a lock of its own
            # The holder's session ends (as with kill -9): the server frees the lock at once.
            holder.conn.close()
            assert not holder.alive() and not holder.held
            started = time.monotonic()
            assert standby.try_acquire()
            assert time.monotonic() - started < 5
        finally:
            for lock in (holder, standby, other_box):
                lock.release()
