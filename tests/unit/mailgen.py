"""Hypothesis strategies for mail-shaped input, CPU budgets, and the fuzz loop.

Shared by tests/unit/test_properties_*.py (docs/reliability.md cases 32 and 33). Random bytes rarely get
past a MIME parser's first line, so the strategies build what hostile and broken mail
programs send: real header names, RFC 2047 words and RFC 2231 parameters in
windows-1251, koi8-r and unknown charsets, boundaries and nesting, CRLF, LF and bare CR
line ends, long runs of one character; and mutations of tests/samples/*.eml.

The default suite runs a few examples of each property (seconds in all). `pytest -m fuzz`
runs every property in a loop for FUZZ_SECONDS (600 by default) split between the parsers.
"""

from __future__ import annotations

import base64
import contextlib
import os
import quopri
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SAMPLES = sorted((Path(__file__).parent.parent / "samples").glob("*.eml"))
SAMPLE_BYTES = [path.read_bytes() for path in SAMPLES]

MB = 1024 * 1024
# Hypothesis's own deadline is wall time and catches a hang; the budgets below are CPU
# time and are what the properties assert.
_DEADLINE_MS = 20_000


def fuzzing() -> bool:
    """True in a `pytest -m fuzz` run (tests/unit/conftest.py sets the variable)."""
    return os.environ.get("ONEASSIST_FUZZ") == "1"


def prop_settings(max_examples: int) -> settings:
    """Settings for one property: few examples in the default suite, more in a fuzz run."""
    return settings(
        max_examples=max_examples,
        deadline=_DEADLINE_MS,
        # The default suite (and CI) replays the same examples, so a run passes or fails
        # the same way twice; the `-m fuzz` run draws fresh ones each round.
        derandomize=not fuzzing(),
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
        print_blob=True,
    )


def cpu_seconds(function: Callable[[], object]) -> float:
    """CPU seconds one call of `function` takes (its exceptions propagate)."""
    started = time.process_time()
    function()
    return time.process_time() - started


def within_budget(function: Callable[[], object], budget: float) -> float:
    """CPU time of `function`; re-timed once (the smaller kept) when the first run is over.

    Two cores are shared by parallel test runs, so one slow run can be noise; a
    quadratic path is slow on both.
    """
    spent = cpu_seconds(function)
    if spent > budget:
        spent = min(spent, cpu_seconds(function))
    return spent


def doubling_ratio(make: Callable[[int], object], run: Callable[[object], object], n: int) -> float:
    """CPU time at size 2n over size n, each the best of three; ~2 when linear, ~4 quadratic."""

    def best(size: int) -> float:
        value = make(size)
        times = []
        for _ in range(3):
            started = time.process_time()
            run(value)
            times.append(time.process_time() - started)
        return min(times)

    # A floor of 10 ms keeps timer noise on tiny inputs from reading as growth; a ratio
    # over 3 is measured once more, as a neighbour's burst on a shared core can fake one.
    ratio = best(2 * n) / max(best(n), 0.01)
    if ratio >= 3.0:
        ratio = min(ratio, best(2 * n) / max(best(n), 0.01))
    return ratio


def fuzz_for(seconds: float, *tests: Callable[[], None]) -> int:
    """Call each hypothesis test in turn until `seconds` have passed; return the rounds run.

    Every call draws fresh random examples (the database replays old failures first),
    so a loop of the default-sized properties is a long fuzz run.
    """
    deadline = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < deadline:
        for test in tests:
            test()
        rounds += 1
    return rounds


def fuzz_seconds(share: float) -> float:
    """This parser's share of FUZZ_SECONDS (the whole -m fuzz run, 600 s by default)."""
    return float(os.environ.get("FUZZ_SECONDS", "600")) * share


# --- text ---------------------------------------------------------------------------------

CHARSETS = ["utf-8", "windows-1251", "koi8-r", "iso-8859-1", "us-ascii"]
ODD_CHARSETS = ["x-unknown", "unknown-8bit", "utf-7", "utf-16", "base64", "zlib", "bogus", ""]
WORDS = [
    "Добрый день", "Прошу", "перенести", "встречу", "Ёлка", "hello", "Café", "über",
    "Re:", "Fwd:", "[OA-1]", "[#done]", "#accept", "+2d", "завтра 12:00", "a@b.example",
    "<x@y>", "=?", "?=", "--", "> ", ";", ":", "\\", '"', "\t", "\u202e", "\u2028", "\x00",
]
LINE_ENDS = ["\r\n", "\n", "\r"]
# Characters whose long runs have made regexes quadratic before (docs/reliability.md case 38).
RUN_UNITS = [
    "\n", "\r", "\r\n", " ", "<", ">", ";", "=?", "> ", "#", "#a\n", "-", "_", "@", ":",
    "x:\n", "-\n", "On ", "[", "[#", "re:", "=", "?", '"', "(", "\\", "*", ".", "1", "1 ",
    "a", "\t", "\u00a0", "=?utf-8?q?", "=0D=0A", "%0D%0A", "<p>", "</p>", "&lt;",
]

text_words = st.lists(
    st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), min_size=0, max_size=12
).map(" ".join)


@st.composite
def runs(draw: st.DrawFn, max_bytes: int = MB) -> str:
    """A long run of one unit (up to about `max_bytes`), possibly inside ordinary text."""
    unit = draw(st.sampled_from(RUN_UNITS))
    most = max(1, max_bytes // len(unit.encode("utf-8")))
    # Hypothesis favours small integers; the full size is what finds quadratic paths.
    count = draw(st.sampled_from([most, most // 2, most // 16]) | st.integers(1, most))
    count = max(count, 1)
    before = draw(st.sampled_from(["", "x", "Hello\n", "#accept\n", "> q\n"]))
    after = draw(st.sampled_from(["", "x", "\n", ":", "\nOn Mon, A wrote:\n> q"]))
    return before + unit * count + after


# --- headers ------------------------------------------------------------------------------

HEADER_NAMES = [
    "From", "To", "Cc", "Reply-To", "Sender", "Subject", "Date", "Message-ID", "In-Reply-To",
    "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    "Content-Disposition", "Content-ID", "Auto-Submitted", "Precedence", "List-Id",
    "X-Mailer", "Received", "Return-Path", "Authentication-Results", "DKIM-Signature",
    "X-Loop", "subject", "FROM", "Content-type", "X-Foo",
]


@st.composite
def encoded_word(draw: st.DrawFn) -> str:
    """One RFC 2047 word, often well formed, sometimes truncated or lying about its charset."""
    text = draw(text_words | st.sampled_from(["\r\nBcc: x@evil.test", "a\nb", "\r", "\n"]))
    charset = draw(st.sampled_from(CHARSETS + ODD_CHARSETS))
    codec = charset if charset in CHARSETS else "utf-8"
    data = text.encode(codec, "replace")
    if draw(st.booleans()):
        body = base64.b64encode(data).decode("ascii")
        kind = draw(st.sampled_from("Bb"))
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))]
    else:
        body = quopri.encodestring(data, header=True).decode("ascii").replace("=\n", "")
        body = body.replace("\n", "=0A").replace("\r", "=0D").replace("?", "=3F")
        kind = draw(st.sampled_from("Qq"))
    lang = draw(st.sampled_from(["", "", "*ru"]))
    return f"=?{charset}{lang}?{kind}?{body}?="


@st.composite
def rfc2231_param(draw: st.DrawFn, name: str = "filename") -> str:
    """A parameter as RFC 2231 writes it: plain, extended, or split into continuations."""
    value = draw(text_words | st.sampled_from(["../../etc/passwd", "a\r\nb.pdf", "CON.txt"]))
    charset = draw(st.sampled_from(CHARSETS + ODD_CHARSETS))
    codec = charset if charset in CHARSETS else "utf-8"
    quoted = urllib.parse.quote(value.encode(codec, "replace"), safe="")
    form = draw(st.integers(0, 3))
    if form == 0:
        return f'{name}="{value}"'
    if form == 1:
        return f"{name}*={charset}''{quoted}"
    if form == 2:
        return f'{name}="{draw(encoded_word())}"'
    pieces = [quoted[i : i + 10] for i in range(0, len(quoted), 10)] or [""]
    first = f"{name}*0*={charset}''{pieces[0]}"
    rest = [f"{name}*{i}*={piece}" for i, piece in enumerate(pieces[1:], 1)]
    return "; ".join([first, *rest])


@st.composite
def header_value(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(
                text_words,
                encoded_word(),
                st.sampled_from(['"Фёдор" <ivan@example.org>', "a@b.example, c@d", "<m@id>"]),
            ),
            max_size=5,
        )
    )
    joiner = draw(st.sampled_from([" ", "", "\r\n ", "\n\t", "\r "]))
    return joiner.join(parts)


@st.composite
def header_line(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(HEADER_NAMES))
    return f"{name}: {draw(header_value())}"


# --- whole mail ---------------------------------------------------------------------------

CONTENT_TYPES = [
    "text/plain", "text/html", "application/pdf", "image/png", "message/rfc822",
    "message/delivery-status", "application/octet-stream", "text/calendar",
]
TRANSFER_ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", "bogus"]


def _encode_body(text: str, charset: str, cte: str) -> str:
    data = text.encode(charset if charset in CHARSETS else "utf-8", "replace")
    if cte == "base64":
        return base64.encodebytes(data).decode("ascii")
    if cte == "quoted-printable":
        return quopri.encodestring(data).decode("ascii")
    # Raw 8-bit bytes survive as latin-1 code points, one per byte.
    return data.decode("latin-1")


@st.composite
def leaf_part(draw: st.DrawFn, html_ok: bool) -> tuple[list[str], str]:
    types = CONTENT_TYPES if html_ok else [t for t in CONTENT_TYPES if t != "text/html"]
    ctype = draw(st.sampled_from(types))
    charset = draw(st.sampled_from(CHARSETS + ODD_CHARSETS))
    cte = draw(st.sampled_from(TRANSFER_ENCODINGS))
    params = [f'charset="{charset}"'] if draw(st.booleans()) else []
    if draw(st.booleans()):
        params.append(draw(rfc2231_param("name")))
    headers = [f"Content-Type: {'; '.join([ctype, *params])}"]
    headers.append(f"Content-Transfer-Encoding: {cte}")
    if draw(st.booleans()):
        disposition = draw(st.sampled_from(["attachment", "inline", "", "ATTACHMENT"]))
        headers.append(f"Content-Disposition: {disposition}; {draw(rfc2231_param())}")
    if ctype == "text/html":
        # Long runs inside HTML are the known html2text case (test_properties_mime's xfail);
        # here HTML stays short so this property tests the rest of the parser.
        body = f"<p>{draw(text_words)}</p><br>{draw(text_words)}"
    else:
        body = draw(text_words | runs(max_bytes=8 * 1024))
    return headers, _encode_body(body, charset, cte)


@st.composite
def mime_tree(draw: st.DrawFn, depth: int = 0, html_ok: bool = True) -> tuple[list[str], str]:
    if depth >= 4 or draw(st.integers(0, 2)) == 0:
        return draw(leaf_part(html_ok))
    boundary = draw(st.sampled_from(["b1", "=_Part_0_1.2", "----=_NextPart", "b b", "", "--"]))
    boundary += str(depth)
    subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "signed"]))
    quoted = draw(st.booleans())
    shown = f'"{boundary}"' if quoted else boundary
    headers = [f"Content-Type: multipart/{subtype}; boundary={shown}"]
    children = draw(st.lists(mime_tree(depth + 1, html_ok), min_size=0, max_size=4))
    lines = [draw(st.sampled_from(["", "This is a multi-part message in MIME format."]))]
    for child_headers, child_body in children:
        lines.append(f"--{boundary}")
        lines.extend(child_headers)
        lines.append("")
        lines.append(child_body)
    if draw(st.integers(0, 3)):
        lines.append(f"--{boundary}--")
    return headers, "\n".join(lines)


@st.composite
def mail_bytes(draw: st.DrawFn, html_ok: bool = True) -> bytes:
    """A whole mail: top headers, a MIME tree, one line-end style (or a mix)."""
    top = draw(st.lists(header_line(), max_size=10))
    tree_headers, body = draw(mime_tree(0, html_ok))
    if draw(st.booleans()):
        address = draw(st.sampled_from(["ivan@example.org", "a@b", "@", ""]))
        top.insert(0, f"From: {draw(header_value())} <{address}>")
    lines = [*top, "MIME-Version: 1.0", *tree_headers, "", body]
    text = "\n".join(lines)
    ending = draw(st.sampled_from([*LINE_ENDS, "mixed"]))
    if ending == "mixed":
        pieces = text.split("\n")
        text = "".join(p + draw(st.sampled_from(LINE_ENDS)) for p in pieces)
    elif ending != "\n":
        text = text.replace("\n", ending)
    return text.encode("utf-8", "surrogatepass")


# Tokens a mutation inserts: the structure a MIME parser keys on.
MUTATION_TOKENS = [
    b"\r\n", b"\n", b"\r", b"\r\n\r\n", b"--", b"boundary=", b"Content-Type: multipart/mixed; ",
    b"Content-Type: message/rfc822\r\n\r\n", b"=?utf-8?q?=0D=0ABcc:_x@evil.test?=", b";" * 50,
    b"<" * 50, b"=?", b"?=", b"\x00", b"\xff\xfe", b"\xd0", b"charset=koi8-r", b"filename*=",
    b"Content-Transfer-Encoding: base64\r\n", b"From: ", b"Subject: ", b" ", b"\t", b":",
]


@st.composite
def mutated_sample(draw: st.DrawFn) -> bytes:
    """A sample mail with a few structural mutations: cut, duplicate, insert, retype line ends."""
    data = bytearray(draw(st.sampled_from(SAMPLE_BYTES)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 5))
        size = len(data)
        at = draw(st.integers(0, size))
        if op == 0 and size:
            end = draw(st.integers(at, min(size, at + 200)))
            del data[at:end]
        elif op == 1 and size:
            end = draw(st.integers(at, min(size, at + 400)))
            data[at:at] = data[at:end] * draw(st.integers(1, 20))
        elif op == 2:
            data[at:at] = draw(st.sampled_from(MUTATION_TOKENS)) * draw(st.integers(1, 5))
        elif op == 3:
            ending = draw(st.sampled_from([b"\r", b"\n", b"\r\n"]))
            data = bytearray(bytes(data).replace(b"\r\n", b"\n").replace(b"\n", ending))
        elif op == 4:
            data[at:at] = draw(st.binary(max_size=40))
        else:
            del data[at:]
    return bytes(data)


def run_in_child(check: Callable[[], str], wall_limit: float) -> tuple[float, str]:
    """Run `check` in a forked child: (its CPU seconds, its message), or (inf, ...) if killed.

    A quadratic regex holds the GIL inside one C call, so no signal or thread can stop
    it; a child process can be killed, which keeps a regression a fast failure instead
    of a hung suite.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read_end)
        try:
            started = time.process_time()
            message = check()
            spent = time.process_time() - started
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            spent, message = 0.0, f"raised {type(exc).__name__}: {exc}"[:2000]
        os.write(write_end, f"{spent}\n{message}".encode("utf-8", "replace"))
        os._exit(0)
    os.close(write_end)
    stop = time.monotonic() + wall_limit
    try:
        while time.monotonic() < stop:
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                with os.fdopen(read_end, "rb") as pipe:
                    spent, _, message = pipe.read().decode("utf-8").partition("\n")
                return float(spent), message
            time.sleep(0.005)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read_end)
        return float("inf"), f"still running after {wall_limit:.1f} s of wall time: killed"
    except BaseException:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        raise
