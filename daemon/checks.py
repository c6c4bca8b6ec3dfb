"""`oneassist check`: the config is already valid if we got here; now try every server."""

from __future__ import annotations

from typing import Any

from daemon.adapters.imap import ImapMailbox
from daemon.adapters.smtp import SmtpSender
from daemon.config import Settings
from daemon.core.errors import OneAssistError


def _result(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "ok": ok, "detail": detail}


def check_templates() -> dict[str, Any]:
    """Render every notice kind in every language from the templates this install reads.

    A wheel without its templates (or with one broken) fails here, at `check`, rather
    than on the first mail or the billing pass at start (docs/reliability.md case 42).
    """
    from importlib.resources import files

    import jinja2

    from daemon.render.compose import make_environment
    from daemon.render.notice_catalogue import (
        KINDS,
        LANGUAGES,
        PACKAGE,
        TEMPLATE_FOLDER,
        check_templates,
    )

    where = str(files(PACKAGE) / TEMPLATE_FOLDER)
    try:
        problems = check_templates(make_environment())
    except (OSError, ValueError, jinja2.TemplateError) as exc:
        # PackageLoader itself refuses a package that has no templates folder at all.
        problems = [f"{type(exc).__name__}: {exc}"]
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        return _result("templates", False, f"{len(problems)} problem(s) in {where}: {shown} "
                       "(reinstall the package, or fix the template named)")
    return _result("templates", True, f"{len(KINDS)} notice kinds x {len(LANGUAGES)} languages rendered "
                   f"from {where}")


def check_store(settings: Settings) -> dict[str, Any]:
    from store.db import init_db
    from store.migrations import current_version
    from store.queries import ticket_count

    try:
        db = init_db(settings.store_url, settings.store_lock_wait_seconds)
        return _result("store", True, f"schema version {current_version(db)}, {ticket_count()} ticket(s)")
    except Exception as exc:  # noqa: BLE001 - report any driver error as a failed check
        return _result("store", False, f"{type(exc).__name__}: {exc} (check store.url)")


def check_imap(settings: Settings) -> dict[str, Any]:
    box = ImapMailbox(settings.imap, timeout=15)
    try:
        box.connect()
        uidvalidity = box.select()
        count = len(box.list_uids())
        idle = b"IDLE" in box.capabilities
        return _result("imap", True, f"logged in to {settings.imap.host}:{settings.imap.port}, "
                       f"{settings.imap.folder} has {count} mail(s), UIDVALIDITY {uidvalidity}, "
                       f"IDLE {'yes' if idle else 'no (polling)'}")
    except OneAssistError as exc:
        # A refused login names its own keys; a connection problem gets the ones that place the server.
        hint = "" if "check imap." in str(exc) else " (check imap.host, imap.port, imap.security)"
        return _result("imap", False, f"{exc}{hint}")
    finally:
        box.close()


def check_smtp(settings: Settings) -> dict[str, Any]:
    sender = SmtpSender(settings.smtp)
    try:
        greeting = sender.check()
        return _result("smtp", True, f"{settings.smtp.host}:{settings.smtp.port} answered: {greeting[:80]}")
    except Exception as exc:  # noqa: BLE001 - any failure is the answer to the check
        return _result("smtp", False, f"{type(exc).__name__}: {exc} (check smtp.host, smtp.port, smtp.security)")
    finally:
        sender.close()


def run_checks(settings: Settings) -> list[dict[str, Any]]:
    config = _result("config", True, f"{settings.source or 'settings'}: {len(settings.staff)} staff, "
                     f"{len(settings.tariffs)} tariff(s)")
    problems = []
    if not settings.admins:
        problems.append("no [[staff]] with role = \"admin\": quarantine alerts go to the first manager")
    if problems:
        config = _result("config", True, config["detail"] + "; warning: " + "; ".join(problems))
    return [config, check_templates(), check_store(settings), check_imap(settings), check_smtp(settings)]
