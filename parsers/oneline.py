"""one_line(): any text made safe for a one-line sink (a log line, a line in an alert). Pure.

journald starts a new entry at every line break, and a terminal or mail reader
starts a new line at CR, LF, VT, FF, NEL and the Unicode line and paragraph
separators. Text that came from mail (a DKIM d=, a header quoted in an
exception) must not be able to start a line of its own (docs/reliability.md cases 29 and 44).
"""

from __future__ import annotations

import re

# C0 and C1 controls (CR, LF, VT, FF, NEL U+0085 among them) and U+2028/U+2029:
# everything str.splitlines() or a terminal treats as a break, and escape sequences.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def one_line(value: object) -> str:
    """`value` as text on one line: control characters and line separators become escapes.

    Backslashes are left alone, so `\\n` in the output may be literal text or an
    escaped LF, but it is never a line break.
    """
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)
