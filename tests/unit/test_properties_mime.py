"""Properties of parsers.mime.parse over mail-shaped input (docs/reliability.md cases 30-33, 38, 40).

parse() has one designed rejection, QuarantineError; anything else escaping is a bug.
A parsed mail carries no CR or LF in any decoded header value (docs/reliability.md case 22), and no
mail up to 1 MB costs more than PARSE_BUDGET_PER_MB of CPU. The last tests are the
measured stalls of the first release, kept as regressions.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from parsers.errors import QuarantineError
from parsers.mail import InboundMail
from parsers.mime import parse
from tests.unit import mailgen
from tests.unit.mailgen import MB, prop_settings

# CPU seconds per MB of mail (plus a fixed 0.2 s): the per-mail budget of docs/reliability.md case 31.
PARSE_BUDGET_PER_MB = 2.0


def _budget(size: int) -> float:
    return 0.2 + PARSE_BUDGET_PER_MB * size / MB


def _single_line_values(mail: InboundMail) -> list[tuple[str, str]]:
    values = [
        ("subject", mail.subject),
        ("from_addr", mail.from_addr),
        ("from_name", mail.from_name),
        ("message_id", mail.message_id or ""),
    ]
    for field in ("to", "cc", "reply_to", "in_reply_to", "references"):
        values += [(field, v) for v in getattr(mail, field)]
    values += [(f"header {name}", value) for name, value in mail.headers]
    values += [(f"header name {name!r}", name) for name, _ in mail.headers]
    for a in mail.attachments:
        values += [("filename", a.filename), ("content_id", a.content_id or "")]
    return values


def contract_violation(raw: bytes) -> str:
    """'' when parse(raw) keeps its contract, else what broke (an unexpected exception raises)."""
    try:
        mail = parse(raw)
    except QuarantineError:
        return ""
    if not isinstance(mail, InboundMail):
        return f"parse returned {type(mail).__name__}"
    for where, value in _single_line_values(mail):
        if "\r" in value or "\n" in value:
            return f"{where} carries a line break: {value[:200]!r}"
    if mail.size != len(raw):
        return "size differs from the raw bytes"
    mail.text.encode("utf-8")  # no lone surrogates reach the store
    return ""


def assert_parse_within_budget(raw: bytes) -> None:
    budget = _budget(len(raw))
    spent, message = mailgen.run_in_child(lambda: contract_violation(raw), 2 * budget + 0.5)
    assert message == "", message
    assert spent < budget, f"parse of {len(raw)} bytes took {spent:.2f} s CPU, budget {budget:.2f}"


@given(raw=mailgen.mail_bytes(html_ok=True))
@prop_settings(max_examples=40)
def test_mail_shaped_input_parses_or_is_quarantined(raw):
    """Generated MIME trees, encodings and line ends: a mail or QuarantineError, one-line headers."""
    assert contract_violation(raw) == ""


@given(raw=mailgen.mutated_sample())
@prop_settings(max_examples=60)
@example(raw=b"From: =?utf-8?q?=0A?=\n\nx")  # eml_parser#76
@example(raw=b"headers: x\nFrom: a@b.example\n\nx")  # mail-parser#139
@example(raw=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")  # mailsuite#61: not a mail at all
def test_mutated_samples_parse_or_are_quarantined(raw):
    """tests/samples/*.eml cut, duplicated, spliced with MIME tokens, line ends retyped."""
    assert contract_violation(raw) == ""


@given(
    name=st.sampled_from(mailgen.HEADER_NAMES),
    value=mailgen.header_value(),
    ending=st.sampled_from(mailgen.LINE_ENDS),
)
@prop_settings(max_examples=80)
@example(
    name="From",
    value="=?UTF-8?Q?=D0=A4=D1=91=D0=B4=D0=BE=D1=80=0D=0ABcc:_x@evil.test?= <ivan@example.org>",
    ending="\r\n",
)
@example(name="Subject", value="=?UTF-8?Q?Hello_=0ABcc:_victim@x.test?=", ending="\n")
def test_decoded_header_values_never_carry_cr_or_lf(name, value, ending):
    """RFC 2047 words decoding to CR/LF, folded values, bare CR: every value stays one line."""
    raw = f"{name}: {value}{ending}From: a@b.example{ending}{ending}body".encode(
        "utf-8", "surrogatepass"
    )
    assert contract_violation(raw) == ""


def _mail_with_run(place: str, run: str) -> bytes:
    if place == "subject":
        return f"From: a@b.example\r\nSubject: {run}\r\n\r\nx".encode()
    if place == "to":
        return f"From: a@b.example\r\nTo: {run}\r\n\r\nx".encode()
    if place == "filename":
        return (
            "From: a@b.example\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            f'Content-Disposition: attachment; filename="{run}"\r\n\r\nx\r\n--b--\r\n'
        ).encode()
    if place == "multipart":
        return (
            "From: a@b.example\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            f"Content-Type: text/plain\r\n\r\n{run}\r\n--b--\r\n"
        ).encode()
    return f"From: a@b.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{run}".encode()


@given(
    place=st.sampled_from(["subject", "to", "filename", "multipart", "body"]),
    run=mailgen.runs(max_bytes=MB - 200),
)
@prop_settings(max_examples=12)
@example(place="body", run="\n" * (MB - 200))
@example(place="multipart", run="\r" * (MB - 200))
def test_runs_up_to_1mb_parse_within_budget(place, run):
    """Long runs of '\\n', '<', ';', '=?', '>' and friends in headers and text parts (docs/reliability.md case 38)."""
    assert_parse_within_budget(_mail_with_run(place, run))


@pytest.mark.parametrize("place", ["subject", "to", "body", "multipart"])
@pytest.mark.parametrize("unit", ["\n", "\r", ";", "<", "=?", "> ", " ", "a@b, "])
def test_parse_grows_linearly_with_a_run(place, unit):
    """Doubling a run of one unit costs at most ~3x the time (a quadratic path gives ~4x)."""

    def run_parse(raw: bytes) -> None:
        try:
            parse(raw)
        except QuarantineError:
            pass

    # The header block is capped at 256 KB, so headers get runs under it.
    size = 48 * 1024 if place in ("subject", "to") else 160 * 1024
    ratio = mailgen.doubling_ratio(
        lambda n: _mail_with_run(place, unit * (n // len(unit))), run_parse, size
    )
    assert ratio < 3.0, f"doubling a run of {unit!r} in the {place} cost {ratio:.1f}x"


# --- the first release's measured stalls, kept as regressions ------------------------------

_HTML_HEAD = b"From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"


def test_html_part_of_line_breaks_parses_within_budget():
    """docs/reliability.md case 38: `<p>x</p>` plus 24,000 line breaks in a text/html part (html2text: 11 s)."""
    assert_parse_within_budget(_HTML_HEAD + b"<p>x</p>" + b"\n" * 24_000)


def test_html_part_of_open_brackets_parses_within_budget():
    """docs/reliability.md case 38: 600 KB of '<' in a text/html part (the old fallback stripper: 228 s)."""
    assert_parse_within_budget(_HTML_HEAD + b"<" * 600_000)


def _parts(count: int, eol: bytes) -> bytes:
    head = b"From: a@b.example" + eol + b"MIME-Version: 1.0" + eol
    head += b"Content-Type: multipart/mixed; boundary=b" + eol + eol
    part = b"--b" + eol + b"Content-Type: text/plain" + eol + eol + b"x" + eol
    return head + part * count + b"--b--" + eol


def _nesting(depth: int, eol: bytes) -> bytes:
    raw = b"From: a@b.example" + eol + b"MIME-Version: 1.0" + eol
    for level in range(depth):
        raw += b"Content-Type: multipart/mixed; boundary=b%d" % level + eol + eol
        raw += b"--b%d" % level + eol
    return raw + b"Content-Type: text/plain" + eol + eol + b"x" + eol


@pytest.mark.parametrize(
    "eol", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "cr"]
)
def test_part_cap_holds_whatever_the_line_ends(eol):
    """docs/reliability.md case 40: 2,000 parts (cap 500) are refused with CRLF, LF or bare CR line ends."""
    with pytest.raises(QuarantineError):
        parse(_parts(2_000, eol))


@pytest.mark.parametrize(
    "eol", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "cr"]
)
def test_depth_cap_holds_whatever_the_line_ends(eol):
    """docs/reliability.md case 40: multipart nested 100 deep (cap 30) is refused whatever the line ends."""
    with pytest.raises(QuarantineError):
        parse(_nesting(100, eol))


@pytest.mark.fuzz
def test_fuzz_mime():
    """`pytest -m fuzz`: the properties above in a loop for 50% of FUZZ_SECONDS."""
    mailgen.fuzz_for(
        mailgen.fuzz_seconds(0.5),
        test_mail_shaped_input_parses_or_is_quarantined,
        test_mutated_samples_parse_or_are_quarantined,
        test_decoded_header_values_never_carry_cr_or_lf,
        test_runs_up_to_1mb_parse_within_budget,
    )
