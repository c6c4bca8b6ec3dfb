"""Email addresses as the daemon compares them: one canonical `local@domain` string.

Routing, alias matching, reply tokens and loop checks all compare addresses, so they all
go through `normalize`, which lower-cases, drops display names and angle brackets and
turns an internationalized domain into its ASCII (IDNA) form. Anything that is not
recognizably an address becomes '' rather than an exception, because senders control
these strings. `redact` is the only form of an address that may reach a log line.

No compatibility folding (docs/reliability.md case 20, issue 9 finding 11): the Kelvin sign K
(U+212A) lower-cases to an ASCII 'k', and the stdlib IDNA 2003 codec maps fullwidth
letters and 'ß' through NFKC to ASCII, so `\u212aate@ｅｘａｍｐｌｅ.com` used to compare
equal to a staff `kate@example.com`. Here case is folded only where it keeps a non-ASCII
character non-ASCII, and a Unicode domain is turned into its ASCII form only when that
conversion is exact (it decodes back to the same text); otherwise the Unicode form is
kept, which can never equal an ASCII address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_ANGLE = re.compile(r"<([^<>]*)>")
# Characters that cannot appear in an unquoted address we are willing to route on.
_BAD_CHARS = re.compile(r"[\s<>,;:\"()\[\]\\\x00-\x1f\x7f]")
_DOMAIN_LITERAL = re.compile(r"^\[[0-9a-f:.]+\]$")
# Letters, digits, '-' and '_' per label; \w also admits the Unicode letters of a name
# that the stdlib's IDNA 2003 codec refused to convert.
_HOSTNAME = re.compile(r"^\w(?:[\w-]{0,61}\w)?(?:\.\w(?:[\w-]{0,61}\w)?)*$")
_MAX_LENGTH = 320
# A header past this many addresses is a bomb or a mass mailing, not a recipient list.
MAX_ADDRESSES = 1000


def safe_lower(value: str) -> str:
    """Lower-case without folding a non-ASCII character into ASCII (U+212A is not 'k')."""
    if value.isascii():
        return value.lower()
    return "".join(
        char.lower() if char.isascii() or not any(c.isascii() for c in char.lower()) else char
        for char in value
    )


def _ascii_domain(domain: str) -> str:
    domain = safe_lower(domain.strip().rstrip("."))
    if domain.isascii():
        return domain
    try:
        ascii_form = domain.encode("idna").decode("ascii")
        exact = ascii_form.encode("ascii").decode("idna") == domain
    except UnicodeError:
        # The stdlib codec is IDNA 2003 and refuses some valid IDNA 2008 names; keeping
        # the lower-cased Unicode form still compares equal to itself.
        return domain
    # Nameprep maps compatibility characters (fullwidth letters, the Kelvin sign, 'ß')
    # to other letters; such a name is kept as written, distinct from what it folds to.
    return ascii_form if exact else domain


def normalize(addr: str) -> str:
    """Canonical lower-case `local@domain` for an address with or without a display name.

    Returns '' for anything that is not an address.
    """
    if not addr:
        return ""
    value = addr.strip()
    found = _ANGLE.findall(value)
    if found:
        value = found[-1].strip()
    if value[:7].lower() == "mailto:":
        value = value[7:]
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or len(value) > _MAX_LENGTH:
        return ""
    if len(local) > 1 and local.startswith('"') and local.endswith('"'):
        # A quoted local part is canonical without its quotes when they quote nothing
        # special ("ivan"@x is ivan@x); one that needs them is not routed on.
        local = local[1:-1]
    if _BAD_CHARS.search(local) or "@" in local or not local:
        return ""
    domain = _ascii_domain(domain)
    if not (_DOMAIN_LITERAL.match(domain) or _HOSTNAME.match(domain)):
        return ""
    return f"{safe_lower(local)}@{domain}"


def _elements(value: str) -> Iterator[str]:
    """Split an address list at top-level ',' and ';', dropping comments and group names.

    A linear scan with counters: `email.utils.getaddresses` recurses on nested comments and
    groups (RecursionError on a To of 200,000 '(') and needs half a second on others.
    """
    current: list[str] = []
    comment_depth = 0
    in_quote = in_angle = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and (in_quote or comment_depth):
            escaped = True
        elif in_quote:
            in_quote = char != '"'
        elif comment_depth:
            comment_depth += {"(": 1, ")": -1}.get(char, 0)
            continue
        elif char == "(":
            comment_depth = 1
            continue
        elif char == '"':
            in_quote = True
        elif char in "<>":
            in_angle = char == "<"
        elif char in ",;" and not in_angle:
            yield "".join(current)
            current = []
            continue
        elif char == ":" and not in_angle:
            # "Team: a@x, b@y;" - the group's name is not an address.
            current = []
            continue
        current.append(char)
    yield "".join(current)


# An RFC 2047 encoded word is one opaque atom: a decoded name may hold ':', '@', ',' or a
# line break, which must never split or end an address (issue 9 finding 6). Bounded and
# anchored, so trying it at each "=?" keeps the scan linear.
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,75}\?[bBqQ]\?[^?\s]*\?=")


@dataclass(frozen=True)
class Mailbox:
    """One mailbox of an address header as written: the raw display phrase and addr-spec.

    `display` still holds quotes and encoded words; it is decoded apart from the address,
    so nothing a display name decodes to can change which address is read.
    """

    display: str
    addr_spec: str


def _mailbox(phrase: list[str], angles: list[str], comments: list[str]) -> Mailbox | None:
    text = "".join(phrase).strip()
    if len(angles) > 1:
        # "Ivan <ivan@x> <other@y>": which one is the author is a guess; none is read.
        return Mailbox(text, "")
    if angles:
        angle = angles[0]
        # An obsolete source route (<@relay.example:ivan@x>) is not part of the address.
        addr = angle.rpartition(":")[2] if angle.startswith("@") else angle
        return Mailbox(text, addr.strip())
    if not text:
        return None
    # The old `ivan@x (Ivan Petrov)` form: the comment is the only name there is.
    return Mailbox(" ".join(c.strip() for c in comments).strip(), text)


def mailboxes(value: str) -> tuple[Mailbox, ...]:
    """The mailboxes of one unfolded, undecoded address header (From, Sender, To ...).

    A linear scan: quoted strings, comments, angle brackets and encoded words are
    tokens, top-level ',' separates mailboxes, and a group's name and its ';' are dropped.
    Every non-empty element is returned, also one that is no valid address, so a caller
    counting mailboxes sees everything the header names.
    """
    found: list[Mailbox] = []
    phrase: list[str] = []
    comments: list[str] = []
    angles: list[str] = []
    i, n = 0, len(value)

    def close() -> None:
        box = _mailbox(phrase, angles, comments)
        if box is not None:
            found.append(box)
        phrase.clear()
        comments.clear()
        angles.clear()

    while i < n:
        char = value[i]
        if char == '"':
            end = i + 1
            while end < n and value[end] != '"':
                end += 2 if value[end] == "\\" else 1
            phrase.append(value[i : end + 1])
            i = end + 1
        elif char == "(":
            depth, end = 1, i + 1
            while end < n and depth:
                depth += {"(": 1, ")": -1}.get(value[end], 0)
                end += 2 if value[end] == "\\" else 1
            comments.append(value[i + 1 : end - 1] if depth == 0 else value[i + 1 : end])
            phrase.append(" ")
            i = end
        elif char == "<":
            end = value.find(">", i + 1)
            end = n if end < 0 else end
            angles.append(value[i + 1 : end])
            i = end + 1
        elif char == "=" and value.startswith("=?", i) and (word := _ENCODED_WORD.match(value, i)):
            phrase.append(word.group())
            i = word.end()
        elif char in ",;":
            close()
            i += 1
        elif char == ":" and not angles:
            # "Team: a@x, b@y;" - the group's name is not an address.
            phrase.clear()
            comments.clear()
            i += 1
        else:
            phrase.append(char)
            i += 1
    close()
    return tuple(found)


def parse_address_list(values: Iterable[str] | str) -> tuple[str, ...]:
    """Normalized, de-duplicated addresses from one or more address header values.

    Garbage entries are dropped; order of first appearance is kept; at most
    MAX_ADDRESSES are returned.
    """
    if isinstance(values, str):
        values = [values]
    seen: dict[str, None] = {}
    for value in values:
        for element in _elements(value or ""):
            canonical = normalize(element)
            if canonical and canonical not in seen:
                seen[canonical] = None
                if len(seen) >= MAX_ADDRESSES:
                    return tuple(seen)
    return tuple(seen)


def split_plus(addr: str) -> tuple[str, str | None]:
    """('local@domain', detail) for `local+detail@domain`; detail is None without a '+'."""
    canonical = normalize(addr)
    if not canonical:
        return "", None
    local, _, domain = canonical.rpartition("@")
    base, plus, detail = local.partition("+")
    if not plus or not base:
        return canonical, None
    return f"{base}@{domain}", detail


def domain_of(addr: str) -> str:
    """The ASCII, lower-case domain of an address, or '' when it is not one."""
    canonical = normalize(addr)
    return canonical.rpartition("@")[2] if canonical else ""


def redact(addr: str) -> str:
    """`a***@domain`: enough for an admin to recognise a sender, nothing more, for logs."""
    canonical = normalize(addr)
    if not canonical:
        return "***"
    local, _, domain = canonical.rpartition("@")
    return f"{local[0]}***@{domain}"
