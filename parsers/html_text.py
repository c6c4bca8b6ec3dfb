"""HTML part -> plain text in one left-to-right pass: linear in the input by construction.

html2text's escaping regexes are quadratic (11 s for `<p>x</p>` and 24,000 line breaks)
and hold the GIL, so one stranger's mail froze every thread (docs/reliability.md case 38). The
candidates measured on the corpus and on hostile input (bench/html_to_text.py, README):
selectolax (lexbor) is the fastest on ordinary mail but its tree builder is superlinear
on deep nesting (59 s for 400 KB of `<div>`); lxml and inscriptis stop at depth 256 and
silently drop the text below it. A mail body needs no tree: text, line breaks at block
boundaries, entities, links. Here every tag is found by a regex with possessive
quantifiers (it cannot backtrack, so a failed match costs the distance to the next `<`
or `>`, and the scan resumes there), comments and raw-text elements end at a plain
`str.find`/`search`, and no state grows with the nesting depth.
"""

from __future__ import annotations

import html
import re

# A start or end tag; `*+` is possessive, so a `<` flood or an unterminated tag is
# rejected in time proportional to what it skips. `>` inside a quoted attribute ends
# the tag early: rare in mail, and the cost of it is a few stray characters of text.
_TOKEN = re.compile(r"<(?:(/?)([A-Za-z][^\s/<>]*+)([^<>]*+)>|!--|[!?][^<>]*+>)")
_HREF = re.compile(r"""\bhref[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*+)"|'([^']*+)'|([^\s"'>]++))""",
                   re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f]++")
_RAW_TEXT = ("script", "style", "title", "template", "textarea")
_RAW_END = {name: re.compile(rf"</{name}\b[^<>]*+>", re.IGNORECASE) for name in _RAW_TEXT}
# Paragraph-level elements get a blank line around them, line-level ones a line break.
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table",
                        "ul", "ol", "dl", "pre", "hr", "figure"})
_LINE = frozenset({"div", "tr", "li", "dt", "dd", "section", "article", "header", "footer",
                   "address", "center", "caption", "form", "fieldset", "main", "nav", "aside",
                   "body", "html", "details", "summary", "option"})
_CELL = frozenset({"td", "th"})
_HANDLED = _PARAGRAPH | _LINE | _CELL | frozenset(_RAW_TEXT) | {"br", "a"}
# A decimal character reference of 8+ digits (leading zeros included). html.unescape
# runs int() on the digits, which raises ValueError past 4,300 of them; one such
# reference quarantined a client's mail (docs/reliability.md case 39). 7 significant digits
# cover U+10FFFF; anything longer is out of range and html.unescape would give U+FFFD.
_LONG_DECIMAL_REF = re.compile(r"&#([0-9]{8,});?")


def _short_ref(found: re.Match[str]) -> str:
    digits = found.group(1).lstrip("0")
    return "\ufffd" if len(digits) > 7 else f"&#{digits or '0'};"


def unescape(text: str) -> str:
    """html.unescape that never raises: long decimal references are shortened first."""
    if "&#" in text:
        text = _LONG_DECIMAL_REF.sub(_short_ref, text)
    return html.unescape(text)


class _Text:
    """Lines of output; block boundaries end a line, `<br>` always does."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.pre = 0

    def add(self, text: str) -> None:
        if not text:
            return
        if self.pre:
            first, *rest = text.split("\n")
            self.current.append(first)
            for line in rest:
                self.flush(keep_spaces=True)
                self.current.append(line)
            return
        self.current.append(_SPACES.sub(" ", text))

    def flush(self, *, keep_spaces: bool = False) -> None:
        line = "".join(self.current)
        self.current.clear()
        self.lines.append(line.rstrip() if keep_spaces else _SPACES.sub(" ", line).strip())

    def boundary(self, blank: bool) -> None:
        if "".join(self.current).strip():
            self.flush(keep_spaces=bool(self.pre))
        else:
            self.current.clear()
        if blank and self.lines and self.lines[-1]:
            self.lines.append("")

    def result(self) -> str:
        self.flush()
        out: list[str] = []
        for line in self.lines:
            # A flood of <br> is at most one blank line.
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out).strip("\n")


def html_to_text(markup: str) -> str:
    """Readable plain text of an HTML body: no tags, entities decoded, one block per line."""
    out = _Text()
    anchor: tuple[str, int, int] | None = None  # href, line count and piece count at <a>
    pos, end = 0, len(markup)
    while pos < end:
        # The C engine skips text and lone `<` alike; Python runs once per real tag.
        tag = _TOKEN.search(markup, pos)
        if tag is None:
            out.add(unescape(markup[pos:]))
            break
        if tag.start() > pos:
            out.add(unescape(markup[pos:tag.start()]))
        pos = tag.end()
        name = tag.group(2)
        if name is None:
            if tag.group() == "<!--":
                close = markup.find("-->", pos)
                pos = end if close < 0 else close + 3
            continue
        name = name.lower()
        if name not in _HANDLED:
            continue
        closing = tag.group(1) == "/"
        if name in _RAW_END and not closing:
            close_tag = _RAW_END[name].search(markup, pos)
            if name == "textarea":
                out.add(unescape(markup[pos:close_tag.start() if close_tag else end]))
            pos = close_tag.end() if close_tag else end
        elif name == "br":
            out.flush(keep_spaces=bool(out.pre))
        elif name in _PARAGRAPH or name in _LINE:
            if name == "pre" and not closing:
                out.boundary(blank=True)
                out.pre += 1
            else:
                out.boundary(blank=name in _PARAGRAPH)
                if name == "pre":
                    out.pre = max(0, out.pre - 1)
        elif name in _CELL:
            if not closing and out.current and out.current[-1] != " ":
                out.add(" ")
        else:
            anchor = _link(out, anchor, tag.group(3), closing)
    return out.result()


def _link(out: _Text, anchor: tuple[str, int, int] | None, attrs: str,
          closing: bool) -> tuple[str, int, int] | None:
    """At </a>, the address after the link text unless the text already shows it."""
    if not closing:
        found = _HREF.search(attrs)
        href = unescape(next((g for g in found.groups() if g is not None), "")) if found else ""
        return (href.strip(), len(out.lines), len(out.current)) if href.strip() else None
    if anchor is None:
        return None
    href, lines, pieces = anchor
    shown = "".join(out.current[pieces:]) if len(out.lines) == lines else "".join(out.current)
    target = href.removeprefix("mailto:")
    if href.lower().startswith(("http://", "https://", "mailto:")) and target not in shown:
        out.add(f" ({target})" if shown.strip() else target)
    return None
