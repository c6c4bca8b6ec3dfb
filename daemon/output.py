"""Everything the CLI writes: one JSON document for scripts or a plain table for people,
raw bytes, notes and errors on stderr.

The CLI's noun modules (daemon/cli/) say what to show; how it reaches the terminal is here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

PROG = "oneassist"


def dump_json(data: Any, out: TextIO) -> None:
    """One JSON document: readable, non-ASCII kept, dates and decimals as strings."""
    json.dump(data, out, ensure_ascii=False, indent=2, default=str)
    out.write("\n")


def document(data: Any) -> None:
    """One JSON document on stdout, whatever --json says (`export`)."""
    dump_json(data, sys.stdout)


def emit(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        dump_json(data, sys.stdout)
    else:
        text = human(data)
        sys.stdout.write(text)
        if not text.endswith("\n"):
            sys.stdout.write("\n")


def table(rows: list[dict[str, Any]], columns: Sequence[str], empty: str = "(none)") -> str:
    if not rows:
        return empty
    cells = [[str(r.get(c, "") if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def line(text: str) -> None:
    """A bare value for scripts (a fresh secret), whatever --json says."""
    print(text)


def raw(data: bytes) -> None:
    sys.stdout.buffer.write(data)


def note(text: str) -> None:
    """Said to the person on stderr, so stdout stays the document."""
    print(text, file=sys.stderr)


def fail(error: BaseException, code: int) -> int:
    """Report an error on stderr and give the exit code: 2 bad input or config, 1 a server or the store."""
    print(f"{PROG}: error: {error}", file=sys.stderr)
    return code
