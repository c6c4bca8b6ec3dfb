"""A staff mail's HTML, made safe to relay to the client: relay_fragment(). Pure.

The client's notice carries the manager's formatting beside the text part
(docs/tags.md, "Files and formatting"). The HTML of a staff mail is hostile input
like any mail: it may carry scripts, remote images (tracking pixels), CSS with
url(), data: URIs, forms, and the quoted history of the desk's staff notification
(the cheat sheet, notes, other people's names). Two rules keep it safe:

1. Text: only text that is also in the text part the client gets (the new text after
   the tag lines, `rest`) is kept, in the same order. Leading tag lines are skipped
   because they are not in `rest`; the quoted history is cut because it is not either.
   So the HTML part can never say more than the text part.
2. Markup: the kept fragment goes through nh3 (ammonia) with a short list of tags and
   attributes: no script, style, form or iframe (with their content), no style or
   event attributes, links only to http(s) and mailto, images only from `cid:` parts
   of the same mail (inline images relayed with it), never a remote or data: image.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

import nh3

_TAGS = frozenset({
    "a", "b", "i", "u", "s", "em", "strong", "p", "br", "div", "span", "ul", "ol", "li", "blockquote",
    "pre", "code", "h1", "h2", "h3", "h4", "table", "thead", "tbody", "tr", "td", "th", "hr", "img",
    "sub", "sup", "small",
})
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"},
               "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
# Removed with everything inside them, not just unwrapped.
_DROP_WITH_CONTENT = frozenset({"script", "style", "title", "head", "form", "textarea", "select", "button",
                                "iframe", "object", "embed", "svg", "math", "template", "noscript"})
_VOID = frozenset({"br", "img", "hr", "meta", "input", "link", "wbr", "area", "col", "embed", "source",
                   "track", "param", "base"})
_LINK_PREFIXES = ("http://", "https://", "mailto:")
# How far ahead in `rest` a node may match: a Gmail text part writes a link as "text <url>",
# which the HTML has only in the href. Only such link marks may be skipped.
_GAP = 300
_SKIPPABLE = re.compile(r"(?:<(?:https?|mailto):[^<>]*>|\[\d+\])*")
# Invisible characters HTML mail is full of; they are not text.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff\u00ad"))
# Past this the client gets the text part alone: the cut and nh3 cost ~0.4 s of CPU per MB,
# and a staff mail's decision must stay inside its stage budget (docs/reliability.md case 38).
MAX_HTML_CHARS = 1024 * 1024


def _norm(text: str) -> str:
    return "".join(text.translate(_INVISIBLE).split())


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    value_l = value.strip().lower()
    if tag == "img" and attr == "src":
        # Only a part of this same mail: a remote image is a tracking pixel, data: a smuggled file.
        return value if value_l.startswith("cid:") else None
    if tag == "a" and attr == "href":
        return value if value_l.startswith(_LINK_PREFIXES) else None
    return value


def sanitize(markup: str) -> str:
    """nh3 with the relay's allow-list (see the module docstring)."""
    return nh3.clean(markup, tags=set(_TAGS), clean_content_tags=set(_DROP_WITH_CONTENT),
                     attributes={k: set(v) for k, v in _ATTRIBUTES.items()},
                     attribute_filter=_attribute_filter, url_schemes={"http", "https", "mailto", "cid"},
                     strip_comments=True, link_rel="noopener noreferrer")


class _Cutter(HTMLParser):
    """Keeps the markup around the text nodes that match `rest`, in order; stops after its end."""

    def __init__(self, rest: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rest = _norm(rest)
        self.pos = 0
        self.started = False
        self.ended = not self.rest
        self.out: list[str] = []
        self.skip: list[str] = []
        # Text of `rest` that no HTML node matched: it must be link marks only.
        self.skipped: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.ended:
            return
        if self.skip or tag in _DROP_WITH_CONTENT:
            if tag not in _VOID:
                self.skip.append(tag)
            return
        values = "".join(f' {escape(k)}="{escape(v or "")}"' for k, v in attrs if k.isascii() and k.isalnum())
        self.out.append(f"<{tag}{values}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if not self.ended and tag not in _VOID:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.ended or self.skip:
            return
        for line in data.splitlines(keepends=True):
            self._line(line)
            if self.ended:
                return

    def _line(self, line: str) -> None:
        norm = _norm(line)
        if not norm:
            if self.started:
                self.out.append(escape(line))
            return
        if not self.started:
            # Tag lines and anything else before the new text are not in `rest`.
            if not self.rest.startswith(norm):
                return
            self.started = True
        found = self.rest.find(norm, self.pos, self.pos + len(norm) + _GAP)
        if found < 0:
            # Text the client's text part does not have (the quoted history): stop here.
            self.ended = True
            return
        self.skipped.append(self.rest[self.pos:found])
        self.pos = found + len(norm)
        self.out.append(escape(line))
        if self.pos >= len(self.rest):
            self.ended = True


def relay_fragment(markup: str, rest: str) -> str | None:
    """The safe HTML fragment of a staff mail's new text, or None when there is none to send.

    None also when the HTML's text does not cover the text part (`rest`): then the
    client gets the text part alone rather than half of the manager's formatting.
    """
    if len(markup) > MAX_HTML_CHARS or not markup.strip() or not _norm(rest):
        return None
    cutter = _Cutter(rest)
    cutter.feed(markup)
    cutter.close()
    cutter.skipped.append(cutter.rest[cutter.pos:])
    if not cutter.started or not all(_SKIPPABLE.fullmatch(gap) for gap in cutter.skipped):
        return None
    cleaned = sanitize("".join(cutter.out)).strip()
    return cleaned or None
