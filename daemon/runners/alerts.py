"""One admin alert through the hourly flood cap of its source: sent, or held for the digest.

The quarantine alert (ingest) and the undeliverable alert (outbox) are raised outside a
decision, so they meet the cap here rather than in store.apply; the caller holds the
transaction, so the count read and the count written commit together.
"""

from __future__ import annotations

import logging
from datetime import datetime

from daemon.core import notice_kinds as kinds
from daemon.core.model import Notice, OutboundMail
from daemon.core.settings import Settings
from daemon.core.workflow import FloodCaps, coalesce
from daemon.render.notices import Notifier
from store import floods, outbox, queries
from store.outbox import enqueue

log = logging.getLogger("oneassist.alerts")


def send_capped(notice: Notice, source: str, held_label: str, caps: FloodCaps, notifier: Notifier,
                now: datetime) -> bool:
    """Enqueue `notice` unless `source` used up its hour; False when it was held instead.

    Whether the kind is capped per source is its rate-limit class (daemon/core/notice_kinds.py):
    a kind that is not is sent as it is, and counted in no window.
    """
    if caps.cap_of(notice.template) is None:
        enqueue(notifier.render(notice, None, None, now), now)
        return True
    sent = {(kind, to): count for kind, to, count in queries.notices_this_hour(source, now)}
    send, held = coalesce((notice,), source, sent, caps)
    for each in send:
        enqueue(notifier.render(each, None, None, now), now)
        floods.count_sent(each, now)
    for each in held:
        floods.count_held(each, held_label, now)
    return not held


def alert_runner_deaths(settings: Settings, runner: str, deaths: int, minutes: int, last_exit: str,
                        now: datetime) -> bool:
    """Tell the admins that a runner of `oneassist run` keeps dying (issue 11); False when held or
    there is no admin. The master restarts it either way, with a growing pause."""
    from daemon.runners.timers import flood_caps
    from store.db import write_transaction

    if not settings.admins:
        return False
    notice = Notice(template=kinds.RUNNER, to=tuple(m.email for m in settings.admins),
                    language=settings.admins[0].language, autoreply=False,
                    context=(("runner", runner), ("deaths", deaths), ("minutes", minutes),
                             ("last_exit", last_exit)))
    with write_transaction():
        return send_capped(notice, f"runner:{runner}", f"runner {runner}", flood_caps(settings),
                           Notifier(settings), now)


def alert_parked(parked: list[OutboundMail], ticket_key: str | None, caps: FloodCaps, notifier: Notifier,
                 now: datetime) -> None:
    """Tell the admins about notices that could not be rendered (docs/reliability.md case 14).

    One alert per parked notice, capped per kind like the undeliverable alert. The alert
    itself goes through render_or_park: a broken alert template is one more dead row and
    a log line, never a loop.
    """
    from daemon.render.notices import render_or_park
    from store.db import write_transaction

    settings = notifier.settings
    if not settings.admins:
        log.error("%s notice(s) parked as dead and no admin is configured to tell", len(parked))
        return
    for out in parked:
        if kinds.is_alert(out.kind):
            continue  # never alert about an alert: that is how mail loops start
        notice = Notice(template=kinds.UNRENDERABLE, to=tuple(m.email for m in settings.admins),
                        language=settings.admins[0].language, autoreply=False,
                        context=(("outbox_id", outbox.id_of(out.message_id) or "-"), ("kind", out.kind),
                                 ("ticket_key", ticket_key or "-"), ("error", out.parked)))
        with write_transaction():
            sent = {(kind, to): count for kind, to, count in queries.notices_this_hour(out.kind, now)}
            send, held = coalesce((notice,), out.kind, sent, caps)
            for each in send:
                enqueue(render_or_park(notifier, each, None, None, now), now)
                floods.count_sent(each, now)
            for each in held:
                floods.count_held(each, f"outbox ({out.kind})", now)
