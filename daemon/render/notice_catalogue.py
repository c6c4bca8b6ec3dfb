"""Every kind of mail the desk sends, in one table: the notice catalogue.

The kinds are entries of daemon/core/notice_kinds.py (a tag's own kinds: of its module);
this table is keyed by them and says how each is rendered, from
`templates/<language>/<kind>.<part>.j2`, one file per part and language: who reads it,
which parts it has, its rate-limit class (the kind's, read by the flood caps), and which
template variables it uses: `needs` must be in the context whenever it is rendered, `may` is
used only behind `is defined` or `| default`. `oneassist check` and
tests/unit/test_notice_catalogue.py render every kind in every language from it
with StrictUndefined, and fail on a template file the table does not know, so a
kind that ships without a file (or a file without a kind) is found before a mail
needs it (docs/reliability.md case 42).

Adding a kind is its entry in daemon/core/notice_kinds.py, one line in KINDS (plus its
template files, and a SAMPLE value for any variable no other kind uses yet). A kind only
one staff tag sends is declared by that tag (daemon/core/tags/<tag>.py, Tag.notices, with
its own samples) and joins KINDS from there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from daemon.core import notice_kinds as kinds
from daemon.core.notice_kinds import NoticeKind, RateClass
from daemon.core.tags import TAGS

LANGUAGES = ("ru", "en")
AUDIENCES = ("client", "staff", "unknown")  # "unknown": a stranger, answered about joining
TEXT = ("subject", "txt")
WITH_HTML = ("subject", "txt", "html")
# The top-level `templates` package; "." because its files sit at the package root.
PACKAGE, TEMPLATE_FOLDER = "templates", "."

# What the Notifier puts into every ticket's context (daemon/render/notices.py ticket_context).
TICKET = ("ticket_key", "subject", "client_name", "manager_name", "service_name")


@dataclass(frozen=True)
class Entry:
    """One row of the catalogue: how the kind `name` is rendered."""

    name: NoticeKind
    audience: str
    needs: tuple[str, ...]
    may: tuple[str, ...] = ()
    parts: tuple[str, ...] = TEXT
    # Values that take the other branches of the templates' {% if %}s.
    variants: tuple[Mapping[str, Any], ...] = field(default=())
    # Sample values of variables only this kind uses (a tag's own kinds); SAMPLE has the rest.
    samples: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> RateClass:
        """The rate-limit class column: the kind's own (daemon/core/notice_kinds.py), which
        the flood caps read (FloodCaps.cap_of) without reaching up to this layer."""
        return self.name.rate

    def files(self, language: str) -> tuple[str, ...]:
        """Template names as the jinja2 loader knows them: `ru/client.notice.ack.txt.j2`."""
        return tuple(f"{language}/{self.name}.{part}.j2" for part in self.parts)

    def sample_contexts(self) -> Iterator[dict[str, Any]]:
        """The needed variables alone, then with every optional one, then each variant."""
        sample = SAMPLE | dict(self.samples)
        needed = {key: sample[key] for key in self.needs}
        yield needed
        full = needed | {key: sample[key] for key in self.may}
        yield full
        for variant in self.variants:
            yield full | dict(variant)


def _kind(name: NoticeKind, needs: tuple[str, ...], may: tuple[str, ...] = (), parts: tuple[str, ...] = TEXT,
          variants: tuple[Mapping[str, Any], ...] = ()) -> tuple[NoticeKind, Entry]:
    return name, Entry(name, name.audience, needs, may, parts, variants)


KINDS: dict[NoticeKind, Entry] = dict((
    # -- to the client, in the personal manager's name ------------------------------------------
    _kind(kinds.ACK, (*TICKET, "due_local", "sla_minutes", "tasks_left"),
          may=("quota_period_word", "away_until", "deputy_name"), parts=WITH_HTML),
    _kind(kinds.ACCEPTED, (*TICKET, "task_due_local", "text"), may=("next_period",),
          variants=({"text": ""},)),
    _kind(kinds.QUESTION, (*TICKET, "text")),
    _kind(kinds.BACK, ("client_name", "manager_name", "service_name", "count", "tasks")),
    _kind(kinds.REPLY, ("ticket_key", "subject", "manager_name", "service_name", "text")),
    _kind(kinds.DUE, ("ticket_key", "client_name", "manager_name", "service_name", "new_due",
                                "text")),
    _kind(kinds.DELAY, ("ticket_key", "client_name", "manager_name", "service_name", "new_due",
                                  "reason", "text")),
    _kind(kinds.DELAY_AUTO, (*TICKET, "due")),
    _kind(kinds.DONE, (*TICKET, "text"), may=("expenses", "deposit_left"),
          variants=({"expenses": ()},)),
    _kind(kinds.CANCELLED, (*TICKET, "reason", "text")),
    _kind(kinds.REJECTED, (*TICKET, "reason", "text")),
    _kind(kinds.WAITING_REMINDER, TICKET),
    _kind(kinds.AUTO_CLOSED, TICKET),
    _kind(kinds.INVOICE, ("client_name", "service_name", "invoice_number", "invoice_kind",
                                    "invoice_total", "invoice_due", "invoice_lines", "reason"),
          may=("manager_name", "ticket_key"), parts=WITH_HTML,
          variants=({"invoice_kind": "topup"}, {"invoice_kind": "topup", "reason": ""})),
    _kind(kinds.INVOICE_REMINDER, ("client_name", "manager_name", "service_name",
                                             "invoice_number", "invoice_total", "invoice_due")),
    _kind(kinds.SUSPENDED, ("client_name", "manager_name", "service_name", "invoice_number",
                                      "invoice_total")),
    # The first paragraph of any client mail a deputy writes while the manager is away
    # (daemon/render/notices.py); a part of other kinds: its subject is never sent.
    _kind(kinds.AWAY_LINE, ("away_manager_name", "manager_name", "away_until")),
    # -- to a stranger (or a client whose tariff is not active) ---------------------------------
    _kind(kinds.JOIN, ("service_name", "join_url", "inactive"),
          may=("invoice_number", "invoice_total", "invoice_due"),
          variants=({"inactive": True}, {"join_url": ""})),
    # -- to staff ---------------------------------------------------------------------------------
    _kind(kinds.STAFF_TICKET, ("ticket_key", "subject", "client_name", "client_email", "tariff_name",
                                  "tasks_left", "deposit", "manager_name", "assignee_name", "status",
                                  "due_local", "task_due_local", "event", "by", "text", "cheat_sheet"),
          may=("quota_period_word", "covering_for", "files"),
          variants=({"event": "assigned", "by": "Анна"}, {"event": "replied"})),
    _kind(kinds.CLIENT_MOVED, ("service_name", "client_name", "client_email", "previous_manager",
                               "tickets"), may=("covering_for",), variants=({"tickets": ()},)),
    _kind(kinds.PAYMENT_RESUMED, ("ticket_key", "subject", "client_name", "status", "charges",
                                  "deposit_left", "cheat_sheet"), may=("covering_for",)),
    _kind(kinds.TRANSCRIPT, ("applied", "refused", "cheat_sheet", "ticket_label"),
          variants=({"refused": ()},)),
    _kind(kinds.BOUNCED, ("address", "sent_kind", "outbox_id", "sent_at", "reason", "hard", "marked",
                                   "hard_bounces"), may=("ticket_key", "subject", "client_name"),
          variants=({"hard": False, "marked": False},)),
    _kind(kinds.SLA_REMINDER, ("ticket_key", "subject", "client_name", "deadline", "late_minutes")),
    _kind(kinds.SLA_BREACH, ("ticket_key", "subject", "client_name", "client_email",
                                     "manager_name", "assignee_name", "deadline", "late_minutes")),
    _kind(kinds.DUE_WARNING, ("ticket_key", "subject", "client_name", "due", "late_minutes")),
    _kind(kinds.DUE_ESCALATION, ("ticket_key", "subject", "client_name", "manager_name", "due")),
    _kind(kinds.QUARANTINE, ("service_name", "spool_id", "mailbox", "uidvalidity", "uid", "size",
                                     "sha256", "reason", "attempts")),
    _kind(kinds.UNAUTHENTICATED, ("service_name", "sender", "reason", "spool_id",
                                          "ticket_label")),
    _kind(kinds.UNDELIVERABLE, ("service_name", "kind", "outbox_id", "ticket_key", "attempts",
                                        "error")),
    _kind(kinds.TOKEN, ("service_name", "protocol", "error")),
    _kind(kinds.RUNNER, ("service_name", "runner", "deaths", "minutes", "last_exit")),
    _kind(kinds.UNRENDERABLE, ("service_name", "kind", "outbox_id", "ticket_key", "error")),
    _kind(kinds.DIGEST, ("service_name", "kind", "source", "count", "opened_at", "closes_at",
                                 "labels", "more_labels"),
          variants=({"kind": kinds.STAFF_TICKET, "labels": ()},)),
))

# One made-up value per template variable, of the type the Notifier passes.
SAMPLE: dict[str, Any] = {
    "tasks": ({"key": "OA-7", "subject": "Столик на пятницу"}, {"key": "OA-9", "subject": "Билеты в Казань"}),
    "files": ({"name": "passwd", "original": "../../etc/passwd", "kb": 2},
              {"name": "scan.pdf", "original": "", "kb": 120}),
    "service_name": "OneAssist", "join_url": "https://oneassist.example/tariffs",
    "ticket_key": "OA-7", "subject": "Столик на пятницу", "client_name": "Иван Петров",
    "client_email": "ivan@example.org", "tariff_name": "Basis", "tasks_left": "2 из 3",
    "quota_period_word": "в этом месяце", "deposit": "1 500,00 ₽", "manager_name": "Анна",
    "assignee_name": "Пётр", "status": "open", "sla_minutes": "15", "due_local": "04.12.2026 10:15",
    "task_due_local": "04.12.2026 19:00", "cheat_sheet": "#done, #ask, #delay WHEN …",
    "text": "Столик забронирован на 19:00.", "reason": "ресторан закрыт",
    "next_period": "01.01.2027 00:00", "new_due": "05.12.2026 19:00",
    "expenses": (("500,00 ₽", "такси"),), "deposit_left": "1 000,00 ₽",
    "invoice_number": "OA-2026-0001", "invoice_kind": "renewal", "invoice_total": "4 900,00 ₽",
    "invoice_due": "31.12.2026", "invoice_lines": (("Тариф Basis, 01.01–31.01.2027", "4 900,00 ₽"),),
    "protocol": "smtp",
    "runner": "ingest-1", "deaths": 3, "minutes": 10, "last_exit": "killed by SIGKILL",
    "inactive": False, "due": "04.12.2026 19:00", "late_minutes": 5, "deadline": "04.12.2026 10:15",
    "spool_id": 12, "mailbox": "INBOX", "uidvalidity": 1700000000, "uid": 42, "size": 2048,
    "sha256": "ab" * 32, "attempts": 3, "sender": "a***@desk.test", "ticket_label": "OA-7",
    "kind": kinds.ACK, "outbox_id": 4, "error": "550 5.1.1 mailbox unavailable",
    "source": "ivan@example.org", "count": 7, "opened_at": "04.12.2026 10:00",
    "closes_at": "04.12.2026 11:00", "labels": ("OA-7", "OA-8"), "more_labels": 0,
    "away_until": "14.12.2026 09:00", "deputy_name": "Борис", "covering_for": "Анна",
    "away_manager_name": "Анна", "previous_manager": "Анна", "charges": (("1 500,00 ₽", "билеты"),),
    "tickets": (("OA-7", "Столик на пятницу", "accepted", "04.12.2026 19:00", "support+OA-7.x1@desk.test"),),
    "address": "ivan@example.org", "sent_kind": kinds.REPLY, "sent_at": "04.12.2026 10:00",
    "hard": True, "marked": True, "hard_bounces": 3,
    "applied": ("#done",), "refused": ("#delay: no date",), "event": "new", "by": "",
}


def _tag_kinds() -> dict[NoticeKind, Entry]:
    """The kinds the staff tags declare themselves (Tag.notices)."""
    found: dict[NoticeKind, Entry] = {}
    for tag in TAGS.values():
        for notice in tag.notices:
            if notice.name in KINDS or notice.name in found:
                raise ValueError(f"notice kind {notice.name} of #{tag.name} is declared twice")
            found[notice.name] = Entry(notice.name, notice.name.audience, notice.needs, notice.may,
                                       samples=dict(notice.samples))
    return found


KINDS.update(_tag_kinds())


class UnknownNoticeKind(KeyError):
    def __str__(self) -> str:
        return f"notice kind {self.args[0]!r} is not in daemon/render/notice_catalogue.py KINDS"


def kind(name: str) -> Entry:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownNoticeKind(name) from None


def template_files(loader: jinja2.BaseLoader) -> set[str]:
    """Every `*.j2` the loader can find, as `ru/client.notice.ack.txt.j2`."""
    return {name for name in loader.list_templates() if name.endswith(".j2")}


def missing_files(env: jinja2.Environment) -> list[str]:
    """The catalogue's template files `env` cannot find: a cheap test at start-up."""
    present = template_files(env.loader) if env.loader is not None else set()
    return [name for notice in KINDS.values() for language in LANGUAGES
            for name in notice.files(language) if name not in present]


def check_templates(env: jinja2.Environment) -> list[str]:
    """Render every kind in every language with its sample contexts; one line per problem.

    `env` must use StrictUndefined, as the daemon's does: a variable a template uses but
    the catalogue does not pass is an error here, not a blank in a client's mail.
    """
    if env.loader is None:
        return ["the jinja2 environment has no loader"]
    problems = []
    for notice in KINDS.values():
        for language in LANGUAGES:
            for name in notice.files(language):
                try:
                    template = env.get_template(name)
                except jinja2.TemplateNotFound:
                    problems.append(f"{name}: missing")
                    continue
                except jinja2.TemplateSyntaxError as exc:
                    problems.append(f"{name}: line {exc.lineno}: {exc.message}")
                    continue
                for context in notice.sample_contexts():
                    try:
                        template.render(context)
                    except Exception as exc:  # noqa: BLE001 - any render failure is the answer
                        problems.append(f"{name}: {type(exc).__name__}: {exc}")
                        break
    known = {name for notice in KINDS.values() for language in LANGUAGES for name in notice.files(language)}
    problems += [f"{name}: not in the catalogue (daemon/render/notice_catalogue.py)"
                 for name in sorted(template_files(env.loader) - known)]
    return problems
