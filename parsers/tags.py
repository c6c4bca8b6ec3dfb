"""Read the staff tag lines at the top of a staff reply (`#accept +2d`) into Commands.

This is the lexer: it finds the tag lines, splits each into name and argument,
and reads the argument by its kind (WHEN, AMOUNT, WHO, a ticket key, text). It
knows no tag by name: the vocabulary (name -> argument kind and option words) is
passed in by the caller, from daemon/core/tags/, where each tag also has its
roles, help and rule. Whether the sender may use a tag, and what it does to the
ticket, is decided there. Tag names are English only, case-insensitive, so one
spelling works in every mail program.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from parsers.when import ACCEPTED_FORMS, ACCEPTED_FORMS_RU, WhenError, parse_when, split_when

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


class TagSyntax(Protocol):
    """What the lexer needs of a tag; daemon/core/tags declares the tags themselves."""

    @property
    def name(self) -> str: ...

    @property
    def arg(self) -> ArgKind: ...

    # Bare words recognized before the argument, e.g. `#accept next`.
    @property
    def options(self) -> frozenset[str]: ...


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
    # The same errors in Russian, one for one, for a Russian-speaking sender's transcript.
    errors_ru: tuple[str, ...] = ()

    def errors_in(self, language: str) -> tuple[str, ...]:
        return self.errors_ru if language == "ru" and self.errors_ru else self.errors


class _ArgError(ValueError):
    """A tag argument that cannot be used; the message says why, `ru` says it in Russian."""

    def __init__(self, message: str, ru: str = "") -> None:
        super().__init__(message)
        self.ru = ru or message


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
    tags: Mapping[str, TagSyntax]


# Possessive: with two greedy \s* around the optional ':' a subject tag holding a run of
# line breaks and then a second line backtracked quadratically (8,000 breaks: 0.5 s).
_TAG_LINE = re.compile(r"#(?P<name>[^\W\d_][\w-]*+)\s*+:?\s*+(?P<arg>.*)")
_SUBJECT_TAG = re.compile(r"\[\s*(#[^\[\]]*)\]")
_CURRENCY = r"(?:₽|руб(?:лей|ля|ль|\.)?|р\.|р|rub|rur)"
# Thousands may be grouped by spaces, including the no-break ones HTML mail leaves.
_NUMBER = r"-?(?:\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+|\d+)(?:[.,]\d+)?"
_AMOUNT = re.compile(
    rf"(?:{_CURRENCY}\s*)?(?P<num>{_NUMBER})(?:\s*{_CURRENCY})?(?=\s|$)", re.IGNORECASE
)
_WHO = re.compile(r"@?(?P<who>[\w.+-]+(?:@[\w-]+(?:\.[\w-]+)+)?)")
# HTML-to-text converters wrap bold tags in ** or __ and may escape the #.
_MARKUP = re.compile(r"(?P<mark>\*\*|__|\*|_)(?P<inner>#.*?)(?P=mark)(?P<tail>.*)")


def parse_commands(
    body: str,
    subject: str,
    now: datetime,
    tz: ZoneInfo,
    ticket_prefix: str = "OA",
    *,
    tags: Mapping[str, TagSyntax],
) -> ParsedTags:
    """Parse subject tags (`[#done]`) and the tag lines at the top of `body`.

    `tags` is the vocabulary, name -> syntax (daemon.core.tags.TAGS): the lexer
    knows the argument kinds, not the tags.

    The tag block is the run of `#name` lines at the top of the body; blank
    and `>` quoted lines inside it are skipped, and the first other line
    starts `rest` (returned as written, trimmed). A `#` line after that is prose.
    """
    ctx = _Context(now, tz, ticket_prefix, tags)
    found: list[tuple[str, str, str, bool]] = []
    for match in _SUBJECT_TAG.finditer(subject):
        found.append((f"subject ({match.group(0)})", f"тема ({match.group(0)})", match.group(1).strip(), True))
    lines = body.splitlines()
    start = len(lines)
    for number, raw in enumerate(lines, 1):
        line = _clean(raw)
        if not line or line.startswith(">"):
            continue
        if _TAG_LINE.match(line) is None:
            start = number - 1
            break
        found.append((f"line {number} ({line})", f"строка {number} ({line})", line, False))

    commands: list[Command] = []
    errors: list[str] = []
    errors_ru: list[str] = []
    if len(found) > MAX_TAG_LINES:
        errors.append(f"{len(found)} tag lines; only the first {MAX_TAG_LINES} are read")
        errors_ru.append(f"строк с тегами: {len(found)}; читаются только первые {MAX_TAG_LINES}")
    seen: set[str] = set()
    for where, where_ru, line, from_subject in found[:MAX_TAG_LINES]:
        try:
            command = _parse_line(line, ctx, from_subject)
        except _ArgError as error:
            errors.append(f"{where}: {error}")
            errors_ru.append(f"{where_ru}: {error.ru}")
            continue
        if command is None:
            continue
        if command.name in seen:
            errors.append(f"{where}: #{command.name} is given twice; write it once")
            errors_ru.append(f"{where_ru}: #{command.name} указан дважды; оставьте один")
            continue
        seen.add(command.name)
        commands.append(command)
    return ParsedTags(tuple(commands), tuple(errors), "\n".join(lines[start:]).strip(), tuple(errors_ru))


# Per language: what the arguments look like, under the cheat sheet's tag list.
_ARG_LEGEND = {
    "en": "WHEN: {when}.\n"
    "AMOUNT: 1500, 1 500,50, 1500.50, 1500 руб, ₽1500; more than zero.\n"
    "WHO: a staff address or login name.",
    "ru": "WHEN (срок): {when}.\n"
    "AMOUNT (сумма): 1500, 1 500,50, 1500.50, 1500 руб, ₽1500; больше нуля.\n"
    "WHO (кто): адрес или логин сотрудника.",
}


def argument_legend(lang: str) -> str:
    """The forms WHEN, AMOUNT and WHO accept, for the cheat sheet (daemon.core.tags.help_text)."""
    if lang not in _ARG_LEGEND:
        raise ValueError(f"no help text for language {lang!r}")
    return _ARG_LEGEND[lang].format(when=ACCEPTED_FORMS_RU if lang == "ru" else ACCEPTED_FORMS)


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
        raise _ArgError("a tag is # followed by a tag name", "тег — это # и имя тега")
    name, arg = match.group("name").lower(), match.group("arg").strip()
    spec = ctx.tags.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(ctx.tags), n=1, cutoff=0.75)
        # A client's own "[#urgent]" rides along in reply subjects; only a near
        # miss of a real tag there is a staff typo worth refusing the mail for.
        if from_subject and not close:
            return None
        hint = f" (did you mean #{close[0]}?)" if close else ""
        hint_ru = f" (может быть, #{close[0]}?)" if close else ""
        valid = ", ".join(f"#{tag}" for tag in ctx.tags)
        raise _ArgError(f"unknown tag #{name}{hint}; valid tags: {valid}",
                        f"неизвестный тег #{name}{hint_ru}; теги: {valid}")
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
        raise _when_error(error) from None


def _when_error(error: WhenError) -> _ArgError:
    return _ArgError(str(error), f"{error.reason_ru}. Возможные формы: {ACCEPTED_FORMS_RU}")


def _optional_when(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
    return _Args(when=_when(arg, ctx)) if arg else _Args()


def _required_when(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
    if not arg:
        raise _ArgError(f"#{spec.name} needs WHEN. Accepted forms: {ACCEPTED_FORMS}",
                        f"#{spec.name}: нужен срок (WHEN). Возможные формы: {ACCEPTED_FORMS_RU}")
    return _Args(when=_when(arg, ctx))


def _when_and_text(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
    if not arg:
        return _required_when(arg, ctx, spec)
    try:
        when, text = split_when(arg, ctx.now, ctx.tz)
    except WhenError as error:
        raise _when_error(error) from None
    if when is None:
        raise _ArgError(f"#{spec.name} must start with WHEN. Accepted forms: {ACCEPTED_FORMS}",
                        f"#{spec.name}: сначала срок (WHEN). Возможные формы: {ACCEPTED_FORMS_RU}")
    return _Args(when=when, text=text)


def _who(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
    match = _WHO.fullmatch(arg)
    if match is None:
        raise _ArgError(f"#{spec.name} needs one WHO: a staff address or login name",
                        f"#{spec.name}: нужен один WHO — адрес или логин сотрудника")
    return _Args(who=match.group("who").lower())


_MAX_AMOUNT_DIGITS = 12


def _amount(text: str) -> tuple[Decimal, str]:
    """A leading positive AMOUNT of `text` in kopeck precision, and what follows it."""
    # The Unicode minus has the same length as "-", so offsets into `text` stay valid.
    match = _AMOUNT.match(text.replace("\u2212", "-"))
    if match is None:
        raise _ArgError(f"cannot read an amount in {text!r} (write 1500, 1 500,50 or 1500 руб)",
                        f"не получается прочитать сумму в «{text}» (пишите 1500, 1 500,50 или 1500 руб)")
    digits = re.sub(r"\s", "", match.group("num")).replace(",", ".")
    value = Decimal(digits)
    if value <= 0:
        raise _ArgError(f"the amount must be more than zero, not {match.group('num')}",
                        f"сумма должна быть больше нуля, а не {match.group('num')}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise _ArgError(f"the amount {match.group('num')} has more than two decimal places",
                        f"в сумме {match.group('num')} больше двух знаков после запятой")
    # A 29-digit amount made quantize raise InvalidOperation (28-digit context), which
    # retried and quarantined the mail with no transcript (docs/reliability.md case 39).
    if value.adjusted() >= _MAX_AMOUNT_DIGITS:
        raise _ArgError(
            f"the amount {match.group('num')[:40]} is too large: more than"
            f" {_MAX_AMOUNT_DIGITS} digits before the decimal point",
            f"сумма {match.group('num')[:40]} слишком велика: больше {_MAX_AMOUNT_DIGITS} цифр до запятой",
        )
    try:
        return value.quantize(Decimal("0.01")), text[match.end() :].strip()
    except InvalidOperation as exc:
        raise _ArgError(f"cannot read an amount in {text[:40]!r}",
                        f"не получается прочитать сумму в «{text[:40]}»") from exc


def _amount_and_text(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
    amount, text = _amount(arg)
    if not text:
        raise _ArgError(f"#{spec.name} needs a description after the amount",
                        f"#{spec.name}: после суммы нужно написать, за что")
    return _Args(amount=amount, text=text)


def _optional_amount(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
    if not arg:
        return _Args()
    amount, extra = _amount(arg)
    if extra:
        raise _ArgError(f"#{spec.name} takes only an amount, not {extra!r}",
                        f"#{spec.name}: нужна только сумма, без «{extra}»")
    return _Args(amount=amount)


def _ticket_key(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
    pattern = rf"\[?#?{re.escape(ctx.prefix)}-(?P<n>\d{{1,9}})\]?"
    match = re.fullmatch(pattern, arg, re.IGNORECASE)
    if match is None:
        raise _ArgError(f"#{spec.name} needs a ticket key like {ctx.prefix}-1042",
                        f"#{spec.name}: нужен номер задачи, например {ctx.prefix}-1042")
    # Upper-cased as parsers/subjects.py does, so keys compare equal across both.
    return _Args(ticket_key=f"{ctx.prefix}-{match.group('n')}".upper())


def _optional_text(arg: str, ctx: _Context, spec: TagSyntax) -> _Args:
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
