"""How the CLI prints: one JSON document for scripts, or a plain table for people.

Its own module so views.py (which formats reports) and cli.py share it without importing
each other.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any


def emit(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(human(data))
        if not human(data).endswith("\n"):
            sys.stdout.write("\n")


def table(rows: list[dict[str, Any]], columns: Sequence[str], empty: str = "(none)") -> str:
    if not rows:
        return empty
    cells = [[str(r.get(c, "") if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
