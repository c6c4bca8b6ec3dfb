"""Fixtures for integration tests: one real Dovecot per session, an SMTP sink per test.

Every test here runs against Debian's Dovecot started from a config the rig writes
(real servers, never a mock of IMAP or SMTP). Without the `dovecot` binary the tests are
skipped with the reason, except under CI=true: CI installs dovecot-imapd, so a missing binary there is a failure.
Tests stay independent by taking fresh mailbox users from `mailboxes` rather than by
restarting Dovecot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon.sandbox.dovecot import DEFAULT_PASSWORD, DovecotServer, dovecot_binary
from daemon.sandbox.smtp import SmtpSink, deliver_to_dovecot

HERE = Path(__file__).parent

NewUser = Callable[..., str]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, unit tests included; mark only ours.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _require_dovecot() -> None:
    if dovecot_binary() is not None:
        return
    reason = "Dovecot is not installed (apt-get install dovecot-imapd); integration tests need it"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def _server_dir(keep_log_in: Path) -> Iterator[Path]:
    """A Dovecot base_dir under /tmp, not under pytest's /tmp/pytest-of-<user>.

    As root, Dovecot's `mail` and `dovecot` users must traverse every parent of base_dir.
    Every new pytest session chmods /tmp/pytest-of-<user> back to 0700, so a server in
    there breaks (auth and maildir "Permission denied") the moment a second session starts
    on the same machine. The log is copied next to pytest's tmp files for post-mortems.
    """
    path = Path(tempfile.mkdtemp(prefix="oneassist-dovecot-"))
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            shutil.copy(path / "dovecot.log", keep_log_in / "dovecot.log")
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    _require_dovecot()
    with _server_dir(tmp_path_factory.getbasetemp()) as base_dir:
        server = DovecotServer(base_dir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def private_dovecot_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty base_dir for a test that runs a Dovecot of its own (see _server_dir)."""
    _require_dovecot()
    with _server_dir(tmp_path) as base_dir:
        yield base_dir


@pytest.fixture
def dovecot(dovecot_session: DovecotServer) -> DovecotServer:
    """The session's Dovecot, started again if an earlier test stopped it."""
    if not dovecot_session.running:
        dovecot_session.start()
    return dovecot_session


@pytest.fixture
def mailboxes(dovecot: DovecotServer) -> NewUser:
    """A factory of fresh mailbox users: `new_user(prefix="user") -> email`.

    Names are unique per call, so tests sharing the session's Dovecot never see each
    other's mail, UIDs or UIDVALIDITY.
    """

    def new_user(prefix: str = "user", password: str = DEFAULT_PASSWORD) -> str:
        email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.test"
        return dovecot.add_user(email, password)

    return new_user


@pytest.fixture
def smtp_sink(dovecot: DovecotServer) -> Iterator[SmtpSink]:
    """A fresh SMTP sink whose accepted mail lands in the recipients' Dovecot INBOX."""
    with SmtpSink(deliver_to_dovecot(dovecot)) as sink:
        yield sink


@pytest.fixture
def desk(tmp_path: Path, dovecot: DovecotServer, smtp_sink: SmtpSink, mailboxes: NewUser):
    """A desk daemon configured against this Dovecot and SMTP sink, with a fresh store."""
    from tests.integration.deskrig import DeskRig

    rig = DeskRig(tmp_path, dovecot, smtp_sink, mailboxes)
    try:
        yield rig
    finally:
        rig.close()
