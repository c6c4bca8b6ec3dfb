"""Subject lines: reply prefixes, ticket tags like [OA-1042], and the normalized form."""

from __future__ import annotations

import re

# Reply prefixes as mail programs write them in Russian and European locales;
# a counter form like "Re[2]:" or "Re(3):" is produced by some Windows clients.
# Possessive \s*+: whitespace never needs to be given back here, and two greedy \s* around
# the optional counter backtracked quadratically ("Re" + 40,000 spaces took 3.7 s).
_REPLY_PREFIX = re.compile(
    r"\s*+(?:re|aw|sv|vs|antw|odp|ответ|отв|rif|réf)\s*+(?:\[\d+\]|\(\d+\))?\s*+:\s*+",
    re.IGNORECASE,
)
_FORWARD_PREFIX = re.compile(r"\s*+(?:fwd?|fw|wg|пересл|пересылка)\s*+:\s*+", re.IGNORECASE)


def _tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(r"\[\s*(" + re.escape(prefix) + r"-\d{1,12})\s*\]", re.IGNORECASE)


def has_reply_prefix(subject: str) -> bool:
    return bool(_REPLY_PREFIX.match(subject))


def ticket_keys_in_subject(subject: str, prefix: str) -> tuple[str, ...]:
    """Every [OA-N] tag in the subject, upper-cased, in order."""
    return tuple(m.group(1).upper() for m in _tag_pattern(prefix).finditer(subject))


def strip_prefixes(subject: str) -> str:
    """Remove any run of reply/forward prefixes from the front."""
    # Find where the run ends and cut once: a substitution per prefix copied the rest
    # of the subject each time, quadratic in a hostile "Re: Re: Re: ..." (9 s per MB).
    pos = 0
    while True:
        found = _REPLY_PREFIX.match(subject, pos) or _FORWARD_PREFIX.match(subject, pos)
        if found is None or found.end() == pos:
            return subject[pos:]
        pos = found.end()


def normalize_subject(subject: str, prefix: str) -> str:
    """The comparable core of a subject: no prefixes, no ticket tags, folded case and space."""
    text = _tag_pattern(prefix).sub(" ", subject)
    text = strip_prefixes(text)
    text = _tag_pattern(prefix).sub(" ", text)
    text = strip_prefixes(text)
    return " ".join(text.split()).casefold()[:255]


def tagged_subject(key: str, subject: str, prefix: str) -> str:
    """Our outgoing subject: '[OA-1042] original', without stacking tags or prefixes."""
    core = _tag_pattern(prefix).sub(" ", strip_prefixes(subject))
    core = " ".join(strip_prefixes(core).split())
    return f"[{key}] {core}".rstrip()
