"""Properties of parsers.tags.parse_commands (docs/reliability.md cases 33, 38).

parse_commands has no raising rejection: a bad tag becomes a line in ParsedTags.errors.
So no input may raise; commands are known tags, at most MAX_TAG_LINES, each at most once,
with amounts above zero in kopecks and WHENs after `now`; and 1 MB of body or subject
costs under TAGS_BUDGET_PER_MB of CPU.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from daemon.core.tags import TAGS, parse_commands
from parsers.tags import MAX_TAG_LINES
from tests.unit import mailgen
from tests.unit.mailgen import MB, prop_settings

# 1 MB of one-line tags ("#x" x 333,000) measures 0.3-0.55 s on a shared core.
TAGS_BUDGET_PER_MB = 1.0
TZ = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 27, 10, tzinfo=TZ)

_ARGS = [
    "", "next", "force +2d", "+2d", "завтра 12:00", "28.11 18:00", "31.02", "25:00",
    "1500 taxi", "1 500,50 руб такси", "₽1500 x", "-5 x", "0 x", "1.005 x", "1" * 40 + " x",
    "9" * 27 + " x", "1e9 x", "anna@example.org", "@anna", "OA-12", "[OA-12]", "XX-1",
    "+999999w", "in an hour, supplier is late", ": reason",
]


@st.composite
def tag_line(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from([*TAGS, "acept", "urgent", "DONE", "x", "", "1"]))
    arg = draw(st.sampled_from(_ARGS) | mailgen.text_words)
    line = f"#{name} {arg}"
    wrap = draw(st.sampled_from(["{}", "**{}**", "__{}__", "*{}*", "\\{}", "\u200b{}", " {} "]))
    return wrap.format(line)


@st.composite
def staff_body(draw: st.DrawFn) -> str:
    lines = draw(
        st.lists(
            tag_line() | st.sampled_from(["", "> #done quoted", "> q"]) | mailgen.text_words,
            max_size=15,
        )
    )
    return draw(st.sampled_from(mailgen.LINE_ENDS)).join(lines)


subjects = st.lists(
    st.sampled_from(["Re:", "[OA-1]", "[#done]", "[#acept]", "[#urgent]", "[ #expense 5 x ]"])
    | mailgen.text_words,
    max_size=6,
).map(" ".join)


def _check(body: str, subject: str) -> None:
    parsed = parse_commands(body, subject, NOW, TZ)
    assert len(parsed.commands) <= MAX_TAG_LINES
    names = [c.name for c in parsed.commands]
    assert len(names) == len(set(names)) and set(names) <= set(TAGS)
    for command in parsed.commands:
        if command.amount is not None:
            assert command.amount > 0
            assert command.amount == command.amount.quantize(Decimal("0.01"))
        if command.when is not None:
            assert command.when.astimezone(UTC) > NOW.astimezone(UTC)
    assert isinstance(parsed.rest, str)


@given(body=staff_body() | st.text(), subject=subjects | st.text())
@prop_settings(max_examples=200)
@example(body="#expense " + "1" * 40 + " taxi", subject="")
@example(body="", subject="[#invoice 99999999999999999999999999999]")
def test_any_staff_mail_gives_commands_and_errors_never_an_exception(body, subject):
    _check(body, subject)


@given(text=mailgen.runs(max_bytes=MB), where=st.sampled_from(["body", "subject", "arg"]))
@prop_settings(max_examples=15)
@example(text="#x\n" * (MB // 3), where="body")
@example(text="\n" * MB, where="body")
def test_up_to_1mb_of_tags_within_budget(text, where):
    body, subject = {
        "body": (text, ""),
        "subject": ("", text),
        "arg": ("#delay " + text, "[#expense " + text + "]"),
    }[where]
    budget = 0.02 + TAGS_BUDGET_PER_MB * len(text.encode("utf-8")) / MB
    spent = mailgen.within_budget(lambda: parse_commands(body, subject, NOW, TZ), budget)
    assert spent < budget, f"parse_commands of {len(text)} chars took {spent:.2f} s CPU"


@pytest.mark.parametrize("unit", ["\n", "#x\n", "#", "[#", "[", "**#", "> #a\n", "1 "])
def test_tags_grow_linearly_with_a_run(unit):
    """Doubling a run in the body, the subject or an argument costs ~2x, not ~4x."""

    def run(text: object) -> None:
        assert isinstance(text, str)
        parse_commands(text, text, NOW, TZ)
        parse_commands("#expense " + text, "", NOW, TZ)

    ratio = mailgen.doubling_ratio(lambda n: unit * (n // len(unit)), run, 128 * 1024)
    assert ratio < 3.0, f"doubling a run of {unit!r} cost {ratio:.1f}x"


@pytest.mark.parametrize("digits", [27, 40, 1000])
def test_a_huge_amount_is_an_error_line_not_an_exception(digits):
    """`#expense 1111...1 taxi` past 28 digits raised decimal.InvalidOperation out of
    parse_commands (quantize exceeds the context precision); now it is a tag error."""
    parsed = parse_commands("#expense " + "1" * digits + " taxi", "", NOW, TZ)
    assert parsed.commands == ()
    assert len(parsed.errors) == 1 and "too large" in parsed.errors[0]


@pytest.mark.fuzz
def test_fuzz_tags():
    """`pytest -m fuzz`: the properties above in a loop for 20% of FUZZ_SECONDS."""
    mailgen.fuzz_for(
        mailgen.fuzz_seconds(0.2),
        test_any_staff_mail_gives_commands_and_errors_never_an_exception,
        test_up_to_1mb_of_tags_within_budget,
    )


def test_a_subject_tag_of_line_breaks_and_a_second_line_is_linear():
    """Found by the property above: `[#expense ` + line breaks + `x\\ny]` backtracked between
    the two greedy \\s* of the tag-line regex (8,000 breaks 0.5 s; 1 MB would take hours)."""
    # 16,000 breaks: about 2 s before the fix, so the old regex fails here instead of hanging.
    text = "\n" * 16_000 + "x\ny"
    spent = mailgen.within_budget(lambda: parse_commands("", "[#expense " + text + "]", NOW, TZ), 0.2)
    assert spent < 0.2
