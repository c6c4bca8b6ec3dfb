"""Properties of parsers.when (docs/reliability.md case 33).

parse_when's designed rejection is WhenError (a ValueError with the accepted forms); what
it returns is aware, in the service timezone, after `now` and within HORIZON. split_when
returns (None, rest) or the same kind of moment, or raises WhenError. 1 MB of text costs
under WHEN_BUDGET_PER_MB of CPU.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from parsers.when import HORIZON, WhenError, parse_when, split_when
from tests.unit import mailgen
from tests.unit.mailgen import MB, prop_settings

WHEN_BUDGET_PER_MB = 0.25
ZONES = [ZoneInfo(z) for z in ("Europe/Moscow", "America/New_York", "Australia/Lord_Howe", "UTC")]

nows = st.builds(
    lambda moment, tz: moment.replace(tzinfo=UTC).astimezone(tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    st.sampled_from(ZONES),
)
_numbers = st.sampled_from(["0", "1", "2", "9", "12", "23", "24", "29", "31", "59", "60", "99"])
_numbers = _numbers | st.integers(0, 10**7).map(str)


@st.composite
def when_text(draw: st.DrawFn) -> str:
    """WHEN-shaped text: every accepted form, with out-of-range numbers and odd spacing."""
    n = [draw(_numbers) for _ in range(5)]
    form = draw(
        st.sampled_from(
            [
                "{0}-{1}-{2} {3}:{4}", "{0}-{1}-{2}T{3}:{4}", "{0}-{1}-{2} (at {3}:{4})",
                "{0}.{1} {2}:{3}", "{0}.{1}.{2} {3}.{4}", "{0}.{1}", "{0}:{1}", "в {0}:{1}",
                "+{0}h", "+{0}d", "+ {0} мин", "+{0}x", "in {0} hours", "через {0} дней",
                "in an hour", "через магазин", "today {0}:{1}", "завтра в {0}:{1}",
                "послезавтра", "monday {0}:{1}", "в пятницу в {0}:{1}", "пн", "on fri",
                "{0}.{1}.{2}", "29.02", "31.02 {0}:{1}", "9999-12-31 23:59", "0000-01-01",
            ]
        )
    )
    text = form.format(*n)
    spacing = draw(st.sampled_from([" ", "  ", "\u00a0", "\t", "\n"]))
    text = text.replace(" ", spacing)
    if draw(st.booleans()):
        text = text.upper()
    tail = draw(st.sampled_from(["", " supplier is late", ": reason", ",", " " + "x" * 100]))
    return text + tail


def _check_moment(result: datetime, now: datetime, tz: ZoneInfo) -> None:
    assert result.tzinfo is not None and result.utcoffset() is not None
    assert result.astimezone(UTC) > now.astimezone(UTC)
    assert result.astimezone(UTC) - now.astimezone(UTC) <= HORIZON


@given(text=when_text() | st.text(max_size=60), now=nows, tz=st.sampled_from(ZONES))
@prop_settings(max_examples=200)
@example(text="+999999w", now=datetime(2026, 11, 27, tzinfo=UTC), tz=ZONES[0])
@example(text="9999-12-31 23:59", now=datetime(2026, 11, 27, tzinfo=UTC), tz=ZONES[1])
def test_parse_when_gives_a_future_moment_or_when_error(text, now, tz):
    try:
        result = parse_when(text, now, tz)
    except WhenError as error:
        assert str(error)
        return
    _check_moment(result, now, tz)


@given(text=when_text() | st.text(max_size=60), now=nows, tz=st.sampled_from(ZONES))
@prop_settings(max_examples=200)
def test_split_when_gives_a_moment_and_the_rest_or_when_error(text, now, tz):
    try:
        result, rest = split_when(text, now, tz)
    except WhenError:
        return
    assert isinstance(rest, str) and rest == rest.strip()
    if result is None:
        assert rest == text.strip()
    else:
        _check_moment(result, now, tz)
        assert rest in text


@given(text=mailgen.runs(max_bytes=MB))
@prop_settings(max_examples=15)
@example(text="1 " * (MB // 2))
@example(text="в " * (MB // 2))
def test_up_to_1mb_of_when_within_budget(text):
    now = datetime(2026, 11, 27, 10, tzinfo=ZONES[0])
    budget = 0.02 + WHEN_BUDGET_PER_MB * len(text.encode("utf-8")) / MB

    def both() -> None:
        for function in (parse_when, split_when):
            try:
                function(text, now, ZONES[0])
            except WhenError:
                pass

    spent = mailgen.within_budget(both, budget)
    assert spent < budget, f"WHEN of {len(text)} chars took {spent:.2f} s CPU"


def test_split_when_reads_only_its_first_words():
    """`#delay +2d` with a 1 MB reason listed every word of the reason first (0.22 s per MB);
    only the first four words can form a WHEN."""
    now = datetime(2026, 11, 27, 10, tzinfo=ZONES[0])
    reason = "1 " * (MB // 2)
    result, rest = split_when("+2d " + reason, now, ZONES[0])
    assert result is not None and rest == reason.strip()
    spent = mailgen.within_budget(lambda: split_when("+2d " + reason, now, ZONES[0]), 0.05)
    assert spent < 0.05, f"{spent:.3f} s"


@pytest.mark.fuzz
def test_fuzz_when():
    """`pytest -m fuzz`: the properties above in a loop for 15% of FUZZ_SECONDS."""
    mailgen.fuzz_for(
        mailgen.fuzz_seconds(0.15),
        test_parse_when_gives_a_future_moment_or_when_error,
        test_split_when_gives_a_moment_and_the_rest_or_when_error,
        test_up_to_1mb_of_when_within_budget,
    )
