"""Read the staff tag lines at the top of a staff reply (`#accept +2d`) into Commands.

TAGS is the whole vocabulary: each tag's argument kind, the roles allowed to
use it and its help text. parse_commands only checks syntax and arguments;
whether the sender's role may use a tag, and what the tag does to the ticket,
is the workflow's decision (TagSpec.allows answers the first). Tag names are
English only, case-insensitive, so one spelling works in every mail program.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from parsers.when import ACCEPTED_FORMS, WhenError, parse_when, split_when

# Like Mailman's email_commands_max_lines: a runaway tag block is a mistake, not a plan.
MAX_TAG_LINES = 10


class ArgKind(StrEnum):
    """What may follow a tag name on its line."""

    OPTIONAL_WHEN = "optional-when"
    REQUIRED_WHEN = "required-when"
    WHEN_AND_TEXT = "required-when-and-optional-text"
    REQUIRED_WHO = "required-who"
    AMOUNT_AND_TEXT = "required-amount-and-text"
    OPTIONAL_AMOUNT = "optional-amount"
    REQUIRED_TICKET_KEY = "required-ticket-key"
    OPTIONAL_TEXT = "optional-text"


@dataclass(frozen=True)
class TagSpec:
    """One staff tag: its argument, who may use it, and its help line."""

    name: str
    arg: ArgKind
    roles: frozenset[str]
    usage: str
    help_ru: str
    help_en: str
    # Bare words recognized before the argument, e.g. `#accept next`.
    options: frozenset[str] = frozenset()

    def allows(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Command:
    """One parsed tag. `arg` is the option word for tags with options (`#accept next` -> 'next',
    plain `#accept` -> ''), otherwise the argument as written. `text` is the free text of the
    line: a reason, an expense description, a split subject, or words after `#done`."""

    name: str
    arg: str
    when: datetime | None
    amount: Decimal | None
    who: str | None
    ticket_key: str | None
    text: str
    line: str


@dataclass(frozen=True)
class ParsedTags:
    """The commands of one staff mail, the errors met on the way, and the body after the tags."""

    commands: tuple[Command, ...]
    errors: tuple[str, ...]
    rest: str


_ALL = frozenset({"manager", "assistant", "admin"})
_LEADS = frozenset({"manager", "admin"})

# Assistants do the work and talk about it; money, closing, merging and who does
# the work stay with the manager (and admins).
_ROWS: tuple[tuple[str, ArgKind, frozenset[str], str, tuple[str, ...]], ...] = (
    ("accept", ArgKind.OPTIONAL_WHEN, _ALL, "[next|force] [WHEN]", ("next", "force")),
    ("ask", ArgKind.OPTIONAL_TEXT, _ALL, "[text]", ()),
    ("reply", ArgKind.OPTIONAL_TEXT, _ALL, "[text]", ()),
    ("note", ArgKind.OPTIONAL_TEXT, _ALL, "[text]", ()),
    ("assign", ArgKind.REQUIRED_WHO, _LEADS, "WHO", ()),
    ("due", ArgKind.REQUIRED_WHEN, _ALL, "WHEN", ()),
    ("delay", ArgKind.WHEN_AND_TEXT, _ALL, "WHEN [reason]", ()),
    ("done", ArgKind.OPTIONAL_TEXT, _ALL, "[text]", ()),
    ("cancel", ArgKind.OPTIONAL_TEXT, _LEADS, "[reason]", ()),
    ("reject", ArgKind.OPTIONAL_TEXT, _LEADS, "[reason]", ()),
    ("expense", ArgKind.AMOUNT_AND_TEXT, _LEADS, "AMOUNT what", ()),
    ("invoice", ArgKind.OPTIONAL_AMOUNT, _LEADS, "[AMOUNT]", ()),
    ("merge", ArgKind.REQUIRED_TICKET_KEY, _LEADS, "{prefix}-N", ()),
    ("split", ArgKind.OPTIONAL_TEXT, _LEADS, "[subject]", ()),
)
_HELP_EN = {
    "accept": "into work, counts in the quota, client told the due time; next/force: see below",
    "ask": "the text goes to the client as a question; the ticket waits for the client",
    "reply": "the text goes to the client; no state change",
    "note": "internal note, never sent to the client",
    "assign": "an assistant does the work; client mail still goes in the manager's name",
    "due": "new due time; the client is told before the old one passes",
    "delay": "move the due time and tell the client the reason",
    "done": "finished: the text and attachments go to the client",
    "cancel": "close as cancelled; the quota is given back",
    "reject": "refuse the task; the quota is given back",
    "expense": "charge the deposit; if it is short, the client gets a top-up invoice",
    "invoice": "email an invoice (for AMOUNT if given)",
    "merge": "merge into another ticket of the same client",
    "split": "the text becomes a new ticket of the same client",
}
_HELP_RU = {
    "accept": "в работу, списывается из лимита, клиенту уходит срок; next/force: см. ниже",
    "ask": "текст уходит клиенту как вопрос; задача ждёт ответа клиента",
    "reply": "текст уходит клиенту; состояние не меняется",
    "note": "внутренняя заметка, клиенту не отправляется",
    "assign": "поручить ассистенту; клиенту всё равно пишет менеджер",
    "due": "новый срок; клиенту сообщается до старого срока",
    "delay": "перенести срок и сообщить клиенту причину",
    "done": "готово: текст и вложения уходят клиенту",
    "cancel": "закрыть как отменённую; лимит возвращается",
    "reject": "отказать в задаче; лимит возвращается",
    "expense": "списать расход с депозита; если не хватает, клиенту уходит счёт",
    "invoice": "выставить счёт (на AMOUNT, если указана)",
    "merge": "объединить с другой задачей того же клиента",
    "split": "текст становится новой задачей того же клиента",
}
TAGS: dict[str, TagSpec] = {
    name: TagSpec(name, arg, roles, usage, _HELP_RU[name], _HELP_EN[name], frozenset(options))
    for name, arg, roles, usage, options in _ROWS
}


class _ArgError(ValueError):
    """A tag argument that cannot be used; the message says why."""


class _Args(NamedTuple):
    when: datetime | None = None
    amount: Decimal | None = None
    who: str | None = None
    ticket_key: str | None = None
    text: str = ""


class _Context(NamedTuple):
    now: datetime
    tz: ZoneInfo
    prefix: str


_TAG_LINE = re.compile(r"#(?P<name>[^\W\d_][\w-]*)\s*:?\s*(?P<arg>.*)")
_SUBJECT_TAG = re.compile(r"\[\s*(#[^\[\]]*)\]")
_CURRENCY = r"(?:₽|руб(?:лей|ля|ль|\.)?|р\.|р|rub|rur)"
# Thousands may be grouped by spaces, including the no-break ones HTML mail leaves.
_NUMBER = r"-?(?:\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+|\d+)(?:[.,]\d+)?"
_AMOUNT = re.compile(
    rf"(?:{_CURRENCY}\s*)?(?P<num>{_NUMBER})(?:\s*{_CURRENCY})?(?=\s|$)", re.IGNORECASE
)
_MAX_AMOUNT_DIGITS = 12
_WHO = re.compile(r"@?(?P<who>[\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)")
# HTML-to-text converters wrap bold tags in ** or __ and may escape the #.
_MARKUP = re.compile(r"(?P<mark>\*\*|__|\*|_)(?P<inner>#.*?)(?P=mark)(?P<tail>.*)")


def parse_commands(
    body: str, subject: str, now: datetime, tz: ZoneInfo, ticket_prefix: str = "OA"
) -> ParsedTags:
    """Parse subject tags (`[#done]`) and the tag lines at the top of `body`.

    The tag block is the run of `#name` lines at the top of the body; blank
    and `>` quoted lines inside it are skipped, and the first other line
    starts `rest` (returned as written, trimmed). A `#` line after that is prose.
    """
    ctx = _Context(now, tz, ticket_prefix)
    found: list[tuple[str, str, bool]] = []
    for match in _SUBJECT_TAG.finditer(subject):
        found.append((f"subject ({match.group(0)})", match.group(1).strip(), True))
    lines = body.splitlines()
    start = len(lines)
    for number, raw in enumerate(lines, 1):
        line = _clean(raw)
        if not line or line.startswith(">"):
            continue
        if _TAG_LINE.match(line) is None:
            start = number - 1
            break
        found.append((f"line {number} ({line})", line, False))

    commands: list[Command] = []
    errors: list[str] = []
    if len(found) > MAX_TAG_LINES:
        errors.append(f"{len(found)} tag lines; only the first {MAX_TAG_LINES} are read")
    seen: set[str] = set()
    for where, line, from_subject in found[:MAX_TAG_LINES]:
        try:
            command = _parse_line(line, ctx, from_subject)
        except _ArgError as error:
            errors.append(f"{where}: {error}")
            continue
        if command is None:
            continue
        if command.name in seen:
            errors.append(f"{where}: #{command.name} is given twice; write it once")
            continue
        seen.add(command.name)
        commands.append(command)
    return ParsedTags(tuple(commands), tuple(errors), "\n".join(lines[start:]).strip())


# Per language: the opening paragraph, the mark on lead-only tags, and the legend.
_HELP_FRAME = {
    "en": (
        "Tags go at the top of the mail, one per line (at most {n}), or in the subject as "
        "[#done]. Tag names are English, in any case. The rest of the text goes to the "
        "client (after #note it stays internal).",
        " (manager, admin)",
        "#accept next: for the next quota period; #accept force: even past the quota.\n"
        "WHEN: {when}.\n"
        "AMOUNT: 1500, 1 500,50, 1500.50, 1500 руб, ₽1500; more than zero.\n"
        "WHO: a staff address or login name.",
    ),
    "ru": (
        "Теги пишутся в начале письма, каждый на своей строке (не больше {n}), или в теме: "
        "[#done]. Имена тегов английские, регистр не важен. Остальной текст уходит клиенту "
        "(после #note остаётся внутренним).",
        " (менеджер, админ)",
        "#accept next: на следующий период лимита; #accept force: сверх лимита.\n"
        "WHEN (срок): {when}.\n"
        "AMOUNT (сумма): 1500, 1 500,50, 1500.50, 1500 руб, ₽1500; больше нуля.\n"
        "WHO (кто): адрес или логин сотрудника.",
    ),
}


def help_text(lang: str, ticket_prefix: str = "OA") -> str:
    """Every valid tag with its syntax and meaning, for error replies and the staff guide."""
    if lang not in _HELP_FRAME:
        raise ValueError(f"no help text for language {lang!r}")
    head, lead_only, legend = _HELP_FRAME[lang]
    lines = [head.format(n=MAX_TAG_LINES), ""]
    for spec in TAGS.values():
        usage = spec.usage.format(prefix=ticket_prefix)
        meaning = spec.help_ru if lang == "ru" else spec.help_en
        mark = "" if spec.allows("assistant") else lead_only
        lines.append(f"#{spec.name} {usage} — {meaning}{mark}")
    lines += ["", legend.format(when=ACCEPTED_FORMS)]
    return "\n".join(lines)


def _clean(raw: str) -> str:
    # Zero-width spaces and BOMs survive str.strip(); HTML mail is full of them.
    line = raw.strip().strip("\u200b\ufeff").strip()
    if line.startswith("\\#"):
        line = line[1:]
    markup = _MARKUP.fullmatch(line)
    return (markup.group("inner") + markup.group("tail")).strip() if markup else line


def _parse_line(line: str, ctx: _Context, from_subject: bool) -> Command | None:
    """One tag line to a Command; None for an unknown subject tag that resembles no tag."""
    match = _TAG_LINE.fullmatch(line)
    if match is None:
        raise _ArgError("a tag is # followed by a tag name")
    name, arg = match.group("name").lower(), match.group("arg").strip()
    spec = TAGS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, TAGS, n=1, cutoff=0.75)
        # A client's own "[#urgent]" rides along in reply subjects; only a near
        # miss of a real tag there is a staff typo worth refusing the mail for.
        if from_subject and not close:
            return None
        hint = f" (did you mean #{close[0]}?)" if close else ""
        raise _ArgError(
            f"unknown tag #{name}{hint}; valid tags: " + ", ".join(f"#{tag}" for tag in TAGS)
        )
    option = ""
    words = arg.split(None, 1)
    if words and words[0].lower() in spec.options:
        option, arg = words[0].lower(), words[1] if len(words) > 1 else ""
    args = _ARG_PARSERS[spec.arg](arg, ctx, spec)
    return Command(name=name, arg=option if spec.options else arg, line=line, **args._asdict())


def _when(arg: str, ctx: _Context) -> datetime:
    try:
        return parse_when(arg, ctx.now, ctx.tz)
    except WhenError as error:
        raise _ArgError(str(error)) from None


def _optional_when(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    return _Args(when=_when(arg, ctx)) if arg else _Args()


def _required_when(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    if not arg:
        raise _ArgError(f"#{spec.name} needs WHEN. Accepted forms: {ACCEPTED_FORMS}")
    return _Args(when=_when(arg, ctx))


def _when_and_text(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    if not arg:
        return _required_when(arg, ctx, spec)
    try:
        when, text = split_when(arg, ctx.now, ctx.tz)
    except WhenError as error:
        raise _ArgError(str(error)) from None
    if when is None:
        raise _ArgError(f"#{spec.name} must start with WHEN. Accepted forms: {ACCEPTED_FORMS}")
    return _Args(when=when, text=text)


def _who(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    match = _WHO.fullmatch(arg)
    if match is None:
        raise _ArgError(f"#{spec.name} needs one WHO: a staff address or login name")
    return _Args(who=match.group("who").lower())


def _amount(text: str) -> tuple[Decimal, str]:
    """A leading positive AMOUNT of `text` in kopeck precision, and what follows it."""
    # The Unicode minus has the same length as "-", so offsets into `text` stay valid.
    match = _AMOUNT.match(text.replace("\u2212", "-"))
    if match is None:
        raise _ArgError(f"cannot read an amount in {text!r} (write 1500, 1 500,50 or 1500 руб)")
    digits = re.sub(r"\s", "", match.group("num")).replace(",", ".")
    value = Decimal(digits)
    # quantize() raises InvalidOperation past the context's 28 digits; no real expense
    # comes near a trillion, so a longer number is a typo the sender is told about.
    if value.adjusted() >= _MAX_AMOUNT_DIGITS:
        raise _ArgError(f"the amount {match.group('num')} is too large")
    if value <= 0:
        raise _ArgError(f"the amount must be more than zero, not {match.group('num')}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise _ArgError(f"the amount {match.group('num')} has more than two decimal places")
    return value.quantize(Decimal("0.01")), text[match.end() :].strip()


def _amount_and_text(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    amount, text = _amount(arg)
    if not text:
        raise _ArgError(f"#{spec.name} needs a description after the amount")
    return _Args(amount=amount, text=text)


def _optional_amount(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    if not arg:
        return _Args()
    amount, extra = _amount(arg)
    if extra:
        raise _ArgError(f"#{spec.name} takes only an amount, not {extra!r}")
    return _Args(amount=amount)


def _ticket_key(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    pattern = rf"\[?#?{re.escape(ctx.prefix)}-(?P<n>\d{{1,9}})\]?"
    match = re.fullmatch(pattern, arg, re.IGNORECASE)
    if match is None:
        raise _ArgError(f"#{spec.name} needs a ticket key like {ctx.prefix}-1042")
    # Upper-cased as parsers/subjects.py does, so keys compare equal across both.
    return _Args(ticket_key=f"{ctx.prefix}-{match.group('n')}".upper())


def _optional_text(arg: str, ctx: _Context, spec: TagSpec) -> _Args:
    return _Args(text=arg)


_ARG_PARSERS = {
    ArgKind.OPTIONAL_WHEN: _optional_when,
    ArgKind.REQUIRED_WHEN: _required_when,
    ArgKind.WHEN_AND_TEXT: _when_and_text,
    ArgKind.REQUIRED_WHO: _who,
    ArgKind.AMOUNT_AND_TEXT: _amount_and_text,
    ArgKind.OPTIONAL_AMOUNT: _optional_amount,
    ArgKind.REQUIRED_TICKET_KEY: _ticket_key,
    ArgKind.OPTIONAL_TEXT: _optional_text,
}
