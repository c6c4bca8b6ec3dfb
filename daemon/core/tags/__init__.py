"""The staff tags: one module per tag in this package, found at import time.

Each module `daemon/core/tags/<name>.py` declares `TAG = Tag(...)`: its syntax for
the lexer (parsers/tags.py), its help in ru and en, the roles that may use it, its
rule and its client mail. Modules whose names start with `_` are shared code, not
tags. Adding a tag is that module, its templates and its test: nothing here or in
core/staff.py names a tag (the one exception: a mail with no tag is a `#reply`).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from zoneinfo import ZoneInfo

from daemon.core.tags._base import FiredTimer, Plan, StaffPerson, StaffPolicy, Tag, TagNotice
from parsers import tags as lexer
from parsers.tags import ParsedTags

__all__ = ["TAGS", "DEFAULT_TAG", "FiredTimer", "Plan", "StaffPerson", "StaffPolicy", "Tag", "TagNotice",
           "help_text", "parse_commands"]

# A staff reply with text and no tag is the manager's answer to the client.
DEFAULT_TAG = "reply"


def _discover() -> Mapping[str, Tag]:
    found: list[Tag] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        tag = getattr(importlib.import_module(f"{__name__}.{info.name}"), "TAG", None)
        if not isinstance(tag, Tag) or tag.name != info.name:
            raise ImportError(f"daemon/core/tags/{info.name}.py must declare TAG = Tag(name={info.name!r}, ...)")
        found.append(tag)
    return MappingProxyType({tag.name: tag for tag in sorted(found, key=lambda t: (t.order, t.name))})


# Read-only: a rule or test cannot add or swap a tag behind the registry's back.
TAGS: Mapping[str, Tag] = _discover()


def parse_commands(body: str, subject: str, now: datetime, tz: ZoneInfo, ticket_prefix: str = "OA") -> ParsedTags:
    """parsers.tags.parse_commands with every tag of this package."""
    return lexer.parse_commands(body, subject, now, tz, ticket_prefix, tags=TAGS)


# Per language: the opening paragraph and the mark on tags an assistant may not use.
_HELP_FRAME = {
    "en": (
        "Tags go at the top of the mail, one per line (at most {n}), or in the subject as "
        "[#done]. Tag names are English, in any case. The rest of the text goes to the "
        "client (after #note it stays internal).",
        " (manager, admin)",
    ),
    "ru": (
        "Теги пишутся в начале письма, каждый на своей строке (не больше {n}), или в теме: "
        "[#done]. Имена тегов английские, регистр не важен. Остальной текст уходит клиенту "
        "(после #note остаётся внутренним).",
        " (менеджер, админ)",
    ),
}


# The free-text placeholders of a tag's usage, as a Russian cheat sheet names them. WHEN,
# AMOUNT and WHO stay: the legend below the tags explains them in Russian.
_USAGE_RU = {"mails": "письма", "reason": "причина", "subject": "тема", "text": "текст", "what": "что"}


def _usage(usage: str, lang: str) -> str:
    if lang != "ru":
        return usage
    return re.sub(r"\b(mails|reason|subject|text|what)\b", lambda m: _USAGE_RU[m.group(1)], usage)


def help_text(lang: str, ticket_prefix: str = "OA") -> str:
    """Every tag with its syntax and meaning, for error replies and the staff guide."""
    if lang not in _HELP_FRAME:
        raise ValueError(f"no help text for language {lang!r}")
    head, lead_only = _HELP_FRAME[lang]
    lines = [head.format(n=lexer.MAX_TAG_LINES), ""]
    for tag in TAGS.values():
        usage = _usage(tag.usage.format(prefix=ticket_prefix), lang)
        meaning = tag.help_ru if lang == "ru" else tag.help_en
        mark = "" if tag.allows("assistant") else lead_only
        lines.append(f"#{tag.name} {usage} — {meaning}{mark}")
    lines.append("")
    lines += [legend for tag in TAGS.values() if (legend := tag.legend_ru if lang == "ru" else tag.legend_en)]
    lines.append(lexer.argument_legend(lang))
    return "\n".join(lines)
