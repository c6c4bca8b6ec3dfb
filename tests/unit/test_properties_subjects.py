"""Subject prefixes and tags stay linear on hostile subjects (docs/reliability.md case 38)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.subjects import normalize_subject, strip_prefixes, tagged_subject
from tests.unit import mailgen
from tests.unit.mailgen import prop_settings


def test_a_long_run_of_reply_prefixes_is_stripped_in_one_pass():
    """'re:' * 333,333 took 9 s: each prefix was removed by a substitution that copied
    the rest of the subject."""
    subject = "re:" * 333_333 + " hello"
    assert strip_prefixes(subject) == "hello"
    spent = mailgen.within_budget(lambda: normalize_subject(subject, "OA"), 0.5)
    assert spent < 0.5, f"{spent:.2f} s"


def test_a_prefix_followed_by_spaces_does_not_backtrack():
    """'Re' + 40,000 spaces took 3.7 s: two greedy \\s* around the optional counter."""
    subject = "Re" + " " * 40_000 + "x"
    spent = mailgen.within_budget(lambda: strip_prefixes(subject), 0.05)
    assert spent < 0.05, f"{spent:.3f} s"


@given(
    prefixes=st.lists(st.sampled_from(["Re:", "RE[2]:", "Fwd:", "AW :", "Отв:", "re (3) :"])),
    core=mailgen.text_words,
)
@prop_settings(max_examples=100)
def test_any_run_of_prefixes_comes_off(prefixes, core):
    subject = " ".join([*prefixes, core])
    assert strip_prefixes(subject).strip() == strip_prefixes(core).strip()
    assert tagged_subject("OA-1", subject, "OA").startswith("[OA-1]")


@pytest.mark.parametrize("unit", ["re:", "Re ", " ", "[OA-1]", "[", "fwd:", "Re[2]"])
def test_subjects_grow_linearly_with_a_run(unit):
    def run(text: object) -> None:
        assert isinstance(text, str)
        normalize_subject(text, "OA")
        tagged_subject("OA-1", text, "OA")

    ratio = mailgen.doubling_ratio(lambda n: unit * (n // len(unit)), run, 128 * 1024)
    assert ratio < 3.0, f"doubling a run of {unit!r} cost {ratio:.1f}x"
