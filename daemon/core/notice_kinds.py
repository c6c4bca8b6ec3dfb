"""Every kind of mail the desk sends, as entries the code names: never as a string. Pure.

A kind is named `<audience>.<notice|alert>.<name>` and rendered from the templates of that
name (daemon/render/notice_catalogue.py, keyed by these entries, says what each template
needs). An entry is a `str`, so it is stored, logged and compared as its name; code refers
to the constants below (or to a tag module's own, e.g. daemon/core/tags/remind.py), so a
misspelt kind is an AttributeError at import, not a missing template inside the apply
transaction. tests/unit/test_notice_catalogue.py fails on a kind's name written as a string
literal anywhere but its declaration.

Each entry carries its rate-limit class: which flood cap it meets (docs/reliability.md,
floods; daemon/core/workflow.py FloodCaps.cap_of). A kind is capped because its entry
says so, not because of how its name begins.
"""

from __future__ import annotations

import re
from enum import StrEnum


class RateClass(StrEnum):
    """Which flood cap a kind meets."""

    # Never capped: client mail (each has its own guard: one ack per task, autoreply limits),
    # transcripts, a staff member's own reminders, and the digest that stands for held notices.
    NONE = "none"
    # Admin alerts: FloodCaps.alerts_per_source per (kind, source, recipients) and hour.
    ALERT = "alert"
    # A client's mail forwarded to staff: FloodCaps.staff_notifications_per_source, the same way.
    STAFF = "staff"
    # "How to join" replies: FloodCaps.join_replies per hour for all senders together
    # (workflow.decide reads the count from the RouteView), never per source.
    JOIN = "join"

    @property
    def per_source(self) -> bool:
        """Counted per (kind, source, recipients) and hour in a flood window (store/floods.py)."""
        return self in (RateClass.ALERT, RateClass.STAFF)


NAME = re.compile(r"(client|staff|unknown)\.(notice|alert)\.[a-z_]+")
_DECLARED: dict[str, NoticeKind] = {}


class UnknownNoticeKind(KeyError):
    def __str__(self) -> str:
        return f"notice kind {self.args[0]!r} is not declared (daemon/core/notice_kinds.py or a tag's module)"


class NoticeKind(str):
    """A kind's name with its rate-limit class; declared once, at import."""

    rate: RateClass

    def __new__(cls, name: str, rate: RateClass = RateClass.NONE) -> NoticeKind:
        if not NAME.fullmatch(name):
            raise ValueError(f"notice kind {name!r} is not <client|staff|unknown>.<notice|alert>.<name>")
        if name in _DECLARED:
            raise ValueError(f"notice kind {name!r} is declared twice")
        self = super().__new__(cls, name)
        self.rate = rate
        _DECLARED[name] = self
        return self

    def __reduce__(self) -> tuple:
        # A copy (or a pickle) is the declared entry again, not a second declaration.
        return named, (str(self),)

    @property
    def audience(self) -> str:
        return self.split(".", 1)[0]


def named(name: str) -> NoticeKind:
    """The declared entry of a name read from outside the code (the store, a test)."""
    if isinstance(name, NoticeKind):
        return name
    try:
        return _DECLARED[name]
    except KeyError:
        raise UnknownNoticeKind(name) from None


def is_alert(name: str) -> bool:
    """An alert to staff (`*.alert.*`), by its name's form: also a name no entry declares (a row
    an older release wrote), since an alert is never alerted about again (mail loops)."""
    return NAME.fullmatch(name) is not None and name.split(".")[1] == "alert"


def declared() -> tuple[NoticeKind, ...]:
    """Every kind declared so far, in order. A tag declares its own kinds in its module
    (daemon/core/tags/<tag>.py), so they are here once daemon.core.tags is imported (the
    render catalogue imports it; this module cannot, the tags import it)."""
    return tuple(_DECLARED.values())


# -- to the client, in the personal manager's name ------------------------------------------------
ACK = NoticeKind("client.notice.ack")
ACCEPTED = NoticeKind("client.notice.accepted")
QUESTION = NoticeKind("client.notice.question")
REPLY = NoticeKind("client.notice.reply")
DUE = NoticeKind("client.notice.due")
DELAY = NoticeKind("client.notice.delay")
DELAY_AUTO = NoticeKind("client.notice.delay_auto")
DONE = NoticeKind("client.notice.done")
CANCELLED = NoticeKind("client.notice.cancelled")
REJECTED = NoticeKind("client.notice.rejected")
WAITING_REMINDER = NoticeKind("client.notice.waiting_reminder")
AUTO_CLOSED = NoticeKind("client.notice.auto_closed")
INVOICE = NoticeKind("client.notice.invoice")
INVOICE_REMINDER = NoticeKind("client.notice.invoice_reminder")
SUSPENDED = NoticeKind("client.notice.suspended")
# After an outage: one "we are back, your N tasks are with your manager" per client (case 35).
BACK = NoticeKind("client.notice.back")
# The first paragraph of a client mail a deputy writes (daemon/render/notices.py): a part, never sent alone.
AWAY_LINE = NoticeKind("client.notice.away_line")
# -- to a stranger (or a client whose tariff is not active) -----------------------------------------
JOIN = NoticeKind("unknown.notice.join", RateClass.JOIN)
# -- to staff -----------------------------------------------------------------------------------------
STAFF_TICKET = NoticeKind("staff.notice.ticket", RateClass.STAFF)
TRANSCRIPT = NoticeKind("staff.notice.transcript")
# One per move or top-up, caused by an admin's command, not by a sender: never capped.
CLIENT_MOVED = NoticeKind("staff.notice.client_moved")
PAYMENT_RESUMED = NoticeKind("staff.notice.payment_resumed")
# One per bounced mail, to the ticket's manager: a bounce is news, never capped.
BOUNCED = NoticeKind("staff.notice.bounced")
SLA_REMINDER = NoticeKind("staff.alert.sla_reminder", RateClass.ALERT)
SLA_BREACH = NoticeKind("staff.alert.sla_breach", RateClass.ALERT)
DUE_WARNING = NoticeKind("staff.alert.due_warning", RateClass.ALERT)
DUE_ESCALATION = NoticeKind("staff.alert.due_escalation", RateClass.ALERT)
QUARANTINE = NoticeKind("staff.alert.quarantine", RateClass.ALERT)
UNAUTHENTICATED = NoticeKind("staff.alert.unauthenticated", RateClass.ALERT)
UNDELIVERABLE = NoticeKind("staff.alert.undeliverable", RateClass.ALERT)
# The OAuth2 token command failed (daemon/runners/tokens.py): one per failure spell.
TOKEN = NoticeKind("staff.alert.token", RateClass.ALERT)
# A runner of `oneassist run` keeps dying (daemon/master.py): capped per runner and hour.
RUNNER = NoticeKind("staff.alert.runner", RateClass.ALERT)
# A notice that could not be rendered or encoded was parked dead (case 14 of issue 14).
UNRENDERABLE = NoticeKind("staff.alert.unrenderable", RateClass.ALERT)
# Stands for the notices a window held back: capping it would hide the flood it reports.
DIGEST = NoticeKind("staff.alert.digest")
