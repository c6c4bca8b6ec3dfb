"""Email addresses as the daemon compares them: one canonical `local@domain` string.

Routing, alias matching, reply tokens and loop checks all compare addresses, so they all
go through `normalize`, which lower-cases, drops display names and angle brackets and
turns an internationalized domain into its ASCII (IDNA) form. Anything that is not
recognizably an address becomes '' rather than an exception, because senders control
these strings. `redact` is the only form of an address that may reach a log line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

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


def _ascii_domain(domain: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        # The stdlib codec is IDNA 2003 and refuses some valid IDNA 2008 names; keeping
        # the lower-cased Unicode form still compares equal to itself.
        return domain


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
    return f"{local.lower()}@{domain}"


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
