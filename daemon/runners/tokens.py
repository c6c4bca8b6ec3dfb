"""What happens when an OAuth2 token command runs: the store remembers it, admins hear once.

The TokenSource of each protocol (daemon/adapters/oauth2.py) calls a TokenReporter after
every run. The outcome and the token's expiry go to the store (store/ops.py), where
`oneassist status` and the metrics read them. The first failure after a success (or ever)
logs an error and mails the admins one alert, under the flood cap of its source; later
failures of the same spell only update the store, so a command that fails at every retry
is one alert, not hundreds. An SMTP token alert waits in the outbox like every reply until
SMTP works again; the log line and `status` say it at once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from daemon.clock import Clock
from daemon.core import notice_kinds as kinds
from daemon.core.model import Notice
from daemon.render.notices import Notifier
from daemon.runners.alerts import send_capped
from daemon.runners.timers import flood_caps
from store import ops
from store.db import write_transaction

log = logging.getLogger("oneassist.oauth2")


class TokenReporter:
    def __init__(self, notifier: Notifier, clock: Clock) -> None:
        self.notifier = notifier
        self.clock = clock

    def __call__(self, protocol: str, ok: bool, expires_at: datetime | None, error: str) -> None:
        now = self.clock.now()
        if ok:
            ops.note_token(protocol, ok=True, expires_at=expires_at, error="", now=now)
            return
        with write_transaction():
            first = not ops.token_failed_before(protocol)
            ops.note_token(protocol, ok=False, expires_at=None, error=error, now=now)
            if first:
                log.error("%s: %s; the admins are told once", protocol, error)
                self._alert(protocol, error, now)

    def _alert(self, protocol: str, error: str, now: datetime) -> None:
        settings = self.notifier.settings
        if not settings.admins:
            return
        notice = Notice(template=kinds.TOKEN, to=tuple(m.email for m in settings.admins),
                        language=settings.admins[0].language, autoreply=False,
                        context=(("protocol", protocol), ("error", error)))
        send_capped(notice, f"token:{protocol}", f"{protocol} token", flood_caps(settings), self.notifier, now)
