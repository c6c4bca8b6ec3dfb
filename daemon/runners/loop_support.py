"""What the runners' loops (daemon/runners/loops.py) share: tokens, the fetch lock's standby,
the store's health, retention and the metrics endpoint. Each imports its module only when called,
so a runner process loads just what its stage uses."""

from __future__ import annotations

import logging
from collections import Counter as Tally

from daemon.clock import Clock
from daemon.config import Settings
from daemon.runners.link import Link

log = logging.getLogger("oneassist.runner")

RETRY_PENDING_SECONDS = 2.0


def token_source(settings: Settings, clock: Clock, protocol: str):  # noqa: ANN202 - TokenSource | None
    """The runner's OAuth2 token source for `protocol`, or None when it logs in with a password."""
    from daemon.adapters.oauth2 import TokenSource
    from daemon.render.notices import Notifier
    from daemon.runners.tokens import TokenReporter

    if protocol == "imap" and settings.imap.oauth2_token_command:
        command = settings.imap.oauth2_token_command
    elif protocol == "smtp" and settings.smtp.auth == "xoauth2":
        command = settings.smtp.oauth2_token_command or ""
    else:
        return None
    return TokenSource(protocol, command, clock.now, TokenReporter(Notifier(settings), clock))


def hold_fetch_lock(lock, settings: Settings, link: Link, counts: Tally[str]) -> bool:  # noqa: ANN001
    """Wait as a standby until this runner holds the fetch lock; False when told to stop."""
    retry = settings.leases.fetch_lock_retry_seconds
    logged = False
    while not link.poll():
        if lock.try_acquire():
            if logged:
                log.info("fetch lock taken: this daemon fetches %s now", settings.imap.folder)
            return True
        if not logged:
            log.info("standby: another daemon fetches %s; trying for the fetch lock every %gs",
                     settings.imap.folder, retry)
            logged = True
        link.beat(retry + RETRY_PENDING_SECONDS, "standby", counts)
        link.wait(retry)
    lock.release()
    return False


def runner_health(settings: Settings, clock: Clock):  # noqa: ANN202 - StoreHealth
    """This runner's report of whether the store writes (one ERROR a minute; docs/reliability.md case 8)."""
    from daemon.runners.store_health import StoreHealth

    return StoreHealth(settings.service.data_dir, clock.now)


def store_failed(health, where: str, exc: BaseException) -> bool:  # noqa: ANN001
    """True if `exc` says the store cannot write: reported, and the connection dropped for a new one."""
    from store.db import reset_connection, unavailable_reason

    reason = unavailable_reason(exc)
    if reason is None:
        return False
    health.failed(where, reason)
    reset_connection()
    return True


def probe_store(health, where: str) -> None:  # noqa: ANN001
    """After a failure, one real write proves the store works again (an empty BEGIN would not)."""
    from store.db import probe_write

    try:
        probe_write()
    except Exception as exc:  # noqa: BLE001 - still down: reported, tried again next pass
        if not store_failed(health, where, exc):
            raise
        return
    health.ok(where)


def note_imap_down(error: str, clock: Clock) -> None:
    from store import ops

    try:
        ops.note_imap_down(error, clock.now())
    except Exception:  # noqa: BLE001 - a store that does not answer is the next pass's problem
        log.exception("could not record the IMAP state")


def retention_safe(settings: Settings, clock: Clock) -> Tally[str]:
    from daemon.runners.retention import retention_pass

    try:
        return retention_pass(settings.retention, clock.now())
    except Exception:  # noqa: BLE001 - the next pass tries again; nothing is half-purged
        log.exception("retention pass failed")
        return Tally()


def metrics_server(settings: Settings, clock: Clock):  # noqa: ANN202 - the server or None
    """The Prometheus endpoint, when configured, in the scheduler's process: it reads the store
    at every scrape, so it counts every runner's work."""
    if not settings.metrics.enabled:
        return None
    from daemon.adapters.metrics import serve

    try:
        return serve(settings, clock)
    except OSError as exc:
        # A taken port must not keep mail from being answered: say so and go on.
        log.error("metrics: cannot listen on %s:%s: %s", settings.metrics.host, settings.metrics.port,
                  exc.strerror or exc)
        return None
