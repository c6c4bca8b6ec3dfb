"""OAuth2 access tokens for XOAUTH2 (IMAP and SMTP): the token command, run when needed.

The command prints either a bare access token or a JSON object with `access_token` and
`expires_in` (seconds) or `expires_at` (Unix time), as oauth2 helpers (oama, mutt_oauth2.py
--json, msal scripts) do. A token is used until REFRESH_MARGIN before it expires (a bare
token is assumed to live ASSUMED_LIFETIME, Google's and Microsoft's hour), and is dropped
after the server refused it, so the next login runs the command again. Every run's
outcome goes to `report`, which keeps it in the store for `status` and alerts the admins
once when it starts failing (daemon/runners/tokens.py).
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from daemon.core.errors import PermanentError

log = logging.getLogger("oneassist.oauth2")

REFRESH_MARGIN = timedelta(minutes=5)
ASSUMED_LIFETIME = timedelta(hours=1)
COMMAND_TIMEOUT = 30

# report(protocol, ok, expires_at, error)
Report = Callable[[str, bool, "datetime | None", str], None]


def parse_token_output(text: str, now: datetime) -> tuple[str, datetime]:
    """(token, expires_at) from the command's stdout; ValueError when there is no token."""
    text = text.strip()
    if text.startswith("{"):
        data = json.loads(text)
        token = str(data.get("access_token") or "").strip()
        if "expires_at" in data:
            expires = datetime.fromtimestamp(float(data["expires_at"]), UTC)
        elif "expires_in" in data:
            expires = now + timedelta(seconds=float(data["expires_in"]))
        else:
            expires = now + ASSUMED_LIFETIME
    else:
        token, expires = text.splitlines()[0].strip() if text else "", now + ASSUMED_LIFETIME
    if not token or any(c.isspace() for c in token):
        raise ValueError("the command printed no access token")
    return token, expires


class TokenSource:
    """One protocol's token: cached until shortly before expiry, shared by its connections."""

    def __init__(self, protocol: str, command: str, now: Callable[[], datetime],
                 report: Report | None = None) -> None:
        self.protocol = protocol
        self.command = command
        self.now = now
        self.report = report
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires: datetime | None = None

    @property
    def expires_at(self) -> datetime | None:
        return self._expires

    def get(self) -> str:
        """A token valid for at least REFRESH_MARGIN; runs the command when there is none."""
        with self._lock:
            now = self.now()
            if self._token and self._expires and now < self._expires - REFRESH_MARGIN:
                return self._token
            self._token, self._expires = self._run(now)
            return self._token

    def invalidate(self, refused: str) -> None:
        """The server refused `refused`: the next get() runs the command again, unless another
        connection already replaced that token (two logins refused at once cost one run)."""
        with self._lock:
            if self._token == refused:
                self._token = None

    def _run(self, now: datetime) -> tuple[str, datetime]:
        key = f"{self.protocol}.oauth2_token_command"
        try:
            done = subprocess.run(self.command, shell=True, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT)
            if done.returncode != 0:
                raise ValueError(f"exited with {done.returncode}")
            token, expires = parse_token_output(done.stdout, now)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            # The command's stderr may hold a refresh token or a URL with secrets: not logged.
            error = f"{key} failed: {exc if not isinstance(exc, subprocess.TimeoutExpired) else 'timed out'}"
            self._tell(False, None, error)
            raise PermanentError(error) from None
        self._tell(True, expires, "")
        return token, expires

    def _tell(self, ok: bool, expires: datetime | None, error: str) -> None:
        if self.report is None:
            return
        try:
            self.report(self.protocol, ok, expires, error)
        except Exception:  # noqa: BLE001 - a report that fails must not cost the login
            log.exception("could not record the %s token run", self.protocol)
