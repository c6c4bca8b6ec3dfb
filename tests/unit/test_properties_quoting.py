"""Properties of parsers.quoting.strip_reply (docs/reliability.md cases 33, 38).

strip_reply has no designed rejection: any text gives text, never '' for text that is not
blank, made only of the input's own lines, and 1 MB costs under STRIP_BUDGET_PER_MB of CPU.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from parsers.quoting import strip_reply
from tests.unit import mailgen
from tests.unit.mailgen import MB, prop_settings

STRIP_BUDGET_PER_MB = 1.0

_REPLY_LINES = [
    "Добрый день!", "Thursday works, 3 pm please.", "", " ", "--", "-- ", "Best,", "Anna",
    "On Mon, 27 Nov 2026 at 10:00, Anna <anna@example.org> wrote:",
    "On Mon, 27 Nov 2026 at 10:00, Anna",
    "<anna@example.org> wrote:",
    "пт, 27 нояб. 2026 г. в 10:00, Иван <ivan@example.org>:",
    "27.11.2026 10:00, Иван пишет:",
    '27.11.2026, 10:00, "Иван" <ivan@example.org>:',
    "Пятница, 27 ноября 2026, 10:00 +03:00 от Иван <ivan@example.org>:",
    "от Иван <ivan@example.org>:",
    "-----Original Message-----", "________________________________",
    "From: Anna <anna@example.org>", "Sent: Friday", "Subject: trip", "От: Иван", "Дата: 27.11",
    "---------- Forwarded message ----------", "Begin forwarded message:",
    "Sent from my iPhone", "Отправлено с моего iPhone", "* * *", "Get Outlook for iOS",
]


@st.composite
def reply_text(draw: st.DrawFn) -> str:
    """A reply as mail programs write it: new text, attributions, '>' quotes, footers."""
    lines = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            lines.append(draw(st.sampled_from(_REPLY_LINES)))
        elif kind == 1:
            depth = draw(st.integers(1, 4))
            lines.append(draw(st.sampled_from(["> ", ">", " > "])) * depth + draw(mailgen.text_words))
        elif kind == 2:
            lines.append(draw(mailgen.text_words))
        else:
            lines.append(draw(st.text(max_size=30)))
    ending = draw(st.sampled_from(mailgen.LINE_ENDS))
    return ending.join(lines)


def _check(text: str) -> None:
    result = strip_reply(text)
    assert isinstance(result, str)
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    if normal.strip():
        assert result.strip(), "a non-blank reply must not strip to nothing"
    assert "\r" not in result
    lines = set(normal.split("\n")) | {line.strip() for line in normal.split("\n")}
    for line in result.split("\n"):
        assert line in lines or line.strip() in lines, f"{line!r} is not a line of the input"


@given(text=reply_text() | st.text())
@prop_settings(max_examples=150)
def test_any_reply_strips_to_its_own_lines(text):
    """No exception, never '' for a non-blank reply, and nothing that was not in the input."""
    _check(text)


@given(text=mailgen.runs(max_bytes=MB))
@prop_settings(max_examples=15)
@example(text="\n" * MB)
@example(text="x\n" * (MB // 2))
@example(text="x:\n" * (MB // 3))
def test_up_to_1mb_strips_within_budget(text):
    """Runs of line breaks, '>', '<', ':' lines, '-' lines: within STRIP_BUDGET_PER_MB."""
    budget = 0.05 + STRIP_BUDGET_PER_MB * len(text.encode("utf-8")) / MB
    spent = mailgen.within_budget(lambda: strip_reply(text), budget)
    assert spent < budget, f"strip_reply of {len(text)} chars took {spent:.2f} s CPU"


@pytest.mark.parametrize(
    "unit", ["\n", "\r", "x\n", "> \n", ">\n\n", "-\n", "x:\n", "From: a@b\n", "Sent: x\n", " \n", "* * *\n"]
)
def test_strip_grows_linearly_with_a_run(unit):
    """Doubling a run of lines costs ~2x, not ~4x (docs/reliability.md case 38)."""
    ratio = mailgen.doubling_ratio(lambda n: unit * (n // len(unit)), strip_reply, 128 * 1024)
    assert ratio < 3.0, f"doubling a run of {unit!r} cost {ratio:.1f}x"


def test_a_footer_of_many_rule_lines_is_not_quadratic():
    """Footer lines were dropped one list slice at a time: 20,000 '* * *' lines took 0.36 s,
    170,000 (1 MB) about 26 s. Cause: a slice per dropped footer line (docs/reliability.md case 38)."""
    text = "Hi\n" + "* * *\n" * 170_000
    assert strip_reply(text) == "Hi"
    spent = mailgen.within_budget(lambda: strip_reply(text), 0.5)
    assert spent < 0.5, f"{spent:.2f} s"


@pytest.mark.fuzz
def test_fuzz_quoting():
    """`pytest -m fuzz`: the properties above in a loop for 15% of FUZZ_SECONDS."""
    mailgen.fuzz_for(
        mailgen.fuzz_seconds(0.15),
        test_any_reply_strips_to_its_own_lines,
        test_up_to_1mb_strips_within_budget,
    )
