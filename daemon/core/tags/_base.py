"""What every tag module declares (Tag) and what its rule works on (Plan). Pure.

A tag's rule checks what it needs and either refuses with a sentence the sender can
act on (plan.refused), or adds its changes to the Plan. core/staff.py turns the Plan
into one all-or-nothing Decision; the rule never builds the Decision itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Literal

from daemon.core import notice_kinds as kinds
from daemon.core.effects import Decision
from daemon.core.model import (
    ONE_OFF_PREFIX,
    BillingView,
    ClientRef,
    InvoiceSpec,
    Notice,
    OneOffTimer,
    Route,
    RouteView,
    ThreadInfo,
    TicketRef,
)
from daemon.core.notice_kinds import NoticeKind
from daemon.core.timetext import people_time
from parsers.tags import ArgKind, Command

ALL = frozenset({"manager", "assistant", "admin"})
# Money, closing, merging and who does the work stay with the manager (and admins).
LEADS = frozenset({"manager", "admin"})


@dataclass(frozen=True)
class StaffPerson:
    email: str
    name: str
    role: str
    language: str


@dataclass(frozen=True)
class StaffPolicy:
    staff: tuple[StaffPerson, ...]
    transcripts: bool
    default_due_hours: float
    top_up_step: Decimal = Decimal("1000")
    # Files of a staff answer relayed to the client: per-file size cap and count cap.
    max_file_bytes: int = 10 * 1024 * 1024
    max_files: int = 20
    # The first-response deadline of a client mail that arrived at a time (workflow.Policy.deadline).
    response_deadline: Callable[[datetime, ClientRef], datetime] | None = None
    # The service timezone: the times in a transcript are the ones staff read on their clocks.
    timezone: tzinfo = UTC

    def person(self, who: str) -> StaffPerson | None:
        who = who.lower().lstrip("@")
        for member in self.staff:
            if member.email == who or member.email.split("@")[0] == who:
                return member
        return None

    @property
    def admins(self) -> tuple[StaffPerson, ...]:
        return tuple(m for m in self.staff if m.role == "admin")


@dataclass
class Plan:
    """What the tags add up to while they are checked, before it becomes a Decision."""

    ticket: TicketRef
    thread: ThreadInfo
    text: str
    now: datetime
    policy: StaffPolicy
    sender: StaffPerson
    changes: dict[str, object] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    client_tags: dict[str, Command] = field(default_factory=dict)
    staff_notices: list[Notice] = field(default_factory=list)
    # Client mails besides the one strongest notice (a #split's ack), sent after the others.
    extra_client_notices: list[Notice] = field(default_factory=list)
    note: str | None = None
    assignee: str | None = None
    split_subject: str | None = None
    # Timeline rows a #split moves, and the new ticket's clock: (started, due).
    split_rows: tuple[int, ...] = ()
    split_mails: int = 0
    split_clock: tuple[datetime, datetime] | None = None
    merge_into: TicketRef | None = None
    quota_count: str | None = None
    quota_period_start: datetime | None = None
    quota_forced: bool = False
    quota_release: bool = False
    ledger: list[tuple[str, Decimal, str]] = field(default_factory=list)
    invoices: list[InvoiceSpec] = field(default_factory=list)
    invoice_notices: list[Notice] = field(default_factory=list)
    timers: list[OneOffTimer] = field(default_factory=list)

    def say(self, ru: str, en: str) -> str:
        """A transcript line in the sender's language: staff mail in Russian is Russian throughout."""
        return ru if self.sender.language == "ru" else en

    def time(self, moment: datetime) -> str:
        """A time in a transcript line: the service timezone, to the minute, with the zone."""
        return people_time(moment, self.policy.timezone)

    @property
    def billing(self) -> BillingView | None:
        return self.thread.billing

    @property
    def deposit_left(self) -> Decimal:
        base = self.billing.deposit if self.billing else Decimal("0.00")
        return base + sum((amount for _, amount, _ in self.ledger), Decimal("0.00"))

    @property
    def due_at(self) -> datetime | None:
        value = self.changes.get("due_at", self.ticket.due_at)
        return value if isinstance(value, datetime) else None

    def add_invoice(self, spec: InvoiceSpec, reason: str) -> None:
        """Issue `spec` and mail it to the client (the notice names it once it has a number)."""
        client = self.thread.client
        self.invoices.append(spec)
        self.invoice_notices.append(Notice(
            template=kinds.INVOICE, to=(client.email,), language=client.language, autoreply=False,
            context=(("invoice_ref", len(self.invoices) - 1), ("reason", reason)),
            in_reply_to=self.thread.last_client_message_id, references=self.thread.message_ids))


    def add_timer(self, tag: str, fire_at: datetime, **data: str) -> None:
        """A one-off timer the tag `tag` fires itself at `fire_at` (its Tag.fire)."""
        self.timers.append(OneOffTimer(ONE_OFF_PREFIX + tag, fire_at, tuple(sorted(data.items()))))


@dataclass(frozen=True)
class FiredTimer:
    """A passed one-off timer, handed to its tag's `fire` by core/timers.fire()."""

    kind: str
    fire_at: datetime
    data: dict[str, str]
    ticket: TicketRef
    thread: ThreadInfo
    now: datetime
    late_minutes: int
    # A staff member's language (her [[staff]] entry, else the service's).
    language_of: Callable[[str], str]

    @property
    def route(self) -> Route:
        return Route("timer", via=self.kind, ticket=self.ticket, client=self.thread.client)


@dataclass(frozen=True)
class TagNotice:
    """A notice kind a tag sends besides the shared ones; daemon/render/notice_catalogue.py
    lists it from here, so a tag brings its kind with its templates.

    `samples`: a made-up value for each variable no other kind uses (the catalogue's
    SAMPLE has the rest), for `oneassist check` and the catalogue test.
    """

    name: NoticeKind
    needs: tuple[str, ...]
    may: tuple[str, ...] = ()
    samples: tuple[tuple[str, object], ...] = ()


Rule = Callable[[Plan, Command, RouteView], None]
TimerRule = Callable[[FiredTimer], Decision]


@dataclass(frozen=True)
class Tag:
    """One staff tag, whole: syntax, help, roles, rule and the client mail it asks for.

    The lexer (parsers/tags.py) reads `name`, `arg` and `options`; the cheat sheet reads
    `usage`, the help lines and `roles`; core/staff.py calls `rule` and, when several
    client-facing tags share a mail, sends only the `client_notice` of the strongest.
    """

    name: str
    arg: ArgKind
    usage: str  # `{prefix}` becomes the ticket prefix
    help_ru: str
    help_en: str
    roles: frozenset[str]
    rule: Rule
    # Place in the cheat sheet and in docs/tags.md: smaller first.
    order: int
    # Bare words recognized before the argument, e.g. `#accept next`.
    options: frozenset[str] = frozenset()
    # Extra lines under the cheat sheet's tag list (e.g. what `#accept next` means).
    legend_ru: str = ""
    legend_en: str = ""
    # The kind of the one client mail this tag asks for; None: it tells the client nothing.
    client_notice: NoticeKind | None = None
    # When several client-facing tags share a mail the client gets the strongest one.
    strength: int = 0
    # Where the text on the tag line goes in the client mail: the message, the reason, or both.
    line_text: Literal["message", "reason", "both"] = "message"
    # A human answer: it stops the first-response (SLA) clock (docs/service-rules.md rule 4).
    answers_client: bool = False
    # Usable on a closed ticket (done, cancelled, rejected, merged, closed).
    when_closed: bool = False
    # Fires the one-off timers the rule set with plan.add_timer (kind "#<name>").
    fire: TimerRule | None = None
    # Notice kinds only this tag sends, with their variables (see TagNotice).
    notices: tuple[TagNotice, ...] = ()

    def allows(self, role: str) -> bool:
        return role in self.roles
