"""Split the new text of a reply from the quoted history, signature and phone footer.

Clients quote differently: Gmail and Thunderbird write an attribution line ("On ...
wrote:", "пт, 27 нояб. 2026 г. в 10:00, Имя <a@b>:"), Outlook a separator or a
From:/Sent: block, Yandex and Mail.ru a dated line ending in `<address>:`. We cut at the
first such line outside a '>' quote, then drop a trailing '>' block, a signature after
"-- " and a "Sent from my iPhone" footer. Forwarded messages are not cut: for a helpdesk
the forwarded mail is usually the task itself. The input is plain text; HTML-only mail
is converted by parsers.mime first. We never return '' for non-empty input: if nothing
new is left (the whole text was a quote), the original text comes back stripped.
"""

from __future__ import annotations

import re

_RU_MONTHS = r"[А-Яа-яЁё]{3,9}\.?"
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?"
# The local part excludes '@' so the split is unambiguous: with `[^<>\s]+@` a line of
# '@'s backtracked quadratically (seconds per reply).
_ADDR_END = r"<\s*[^<>\s@]+@[^<>\s]+\s*>\s*:"

# Attribution lines that may be wrapped over two lines by the sending client.
_ATTRIBUTIONS = [
    # Gmail, Thunderbird and Apple Mail in English, and their European cousins.
    re.compile(
        r"^(?:On|Am|Le|El|Il|Op)\s"
        r"(?=.*\s(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef)\b).{4,}:$"
    ),
    # Russian Gmail: "пт, 27 нояб. 2026 г. в 10:00, Имя <a@b>:".
    re.compile(
        rf"^(?:[А-Яа-яЁё]{{2,3}},\s*)?\d{{1,2}}\s+{_RU_MONTHS}\s+\d{{4}}\s*г\.\s*в\s+{_TIME},?\s.*:$"
    ),
    # Thunderbird in Russian: "27.11.2026 10:00, Имя пишет:".
    re.compile(
        rf"^\d{{1,2}}\.\d{{1,2}}\.\d{{2,4}},?\s+{_TIME}.*\s(?:пишет|написала?|написал\(а\))\s?:$"
    ),
    # Yandex: '27.11.2026, 10:00, "Имя" <a@b>:' and without quotes.
    re.compile(rf"^\d{{1,2}}\.\d{{1,2}}\.\d{{2,4}},\s*{_TIME},\s*.*{_ADDR_END}$"),
    # Mail.ru: "Пятница, 27 ноября 2026, 10:00 +03:00 от Имя <a@b>:".
    re.compile(
        rf"^[А-Яа-яЁё]+,\s*\d{{1,2}}\s+{_RU_MONTHS}\s+\d{{4}},\s*{_TIME}(?=.*\sот\s).*{_ADDR_END}$"
    ),
    # Mail.ru's short form on a line of its own: "от Имя <a@b>:".
    re.compile(rf"^[Оо]т\s.*{_ADDR_END}$"),
]

# A forwarded message is the task itself, not history: nothing below it is cut.
_FORWARD = re.compile(
    r"^(?:-{2,}\s*(?:Forwarded message|Forwarded Message|Пересылаемое сообщение"
    r"|Переадресованное сообщение|Weitergeleitete Nachricht)\s*-{2,}|Begin forwarded message:"
    r"|Начало переадресованного сообщения:)$",
    re.IGNORECASE,
)
_SEPARATORS = [
    re.compile(
        r"^-{3,}\s*(?:Original Message|Исходное сообщение|Ursprüngliche Nachricht"
        r"|Message d'origine|Mensaje original)\s*-{3,}$",
        re.IGNORECASE,
    ),
    # Outlook's reply rule: a line of underscores above the header block.
    re.compile(r"^_{20,}$"),
]

# Outlook's header block: "From: X" followed within a few lines by "Sent: Y". A client
# may well write "From: Moscow / Date: 5 Dec" in a travel request, so the block needs an
# address on the From line or a Subject line as well. The optional asterisks are the
# bold that html2text leaves on HTML-only Outlook mail.
_BLOCK_FROM = re.compile(r"^\*{0,2}(?:From|От|Von|De)\s?:\*{0,2}\s*\S", re.IGNORECASE)
_BLOCK_SENT = re.compile(
    r"^\*{0,2}(?:Sent|Date|Отправлено|Дата|Gesendet|Datum|Envoyé|Enviado)\s?:\*{0,2}\s*\S",
    re.IGNORECASE,
)
_BLOCK_SUBJECT = re.compile(
    r"^\*{0,2}(?:Subject|Тема|Betreff|Objet|Asunto)\s?:\*{0,2}", re.IGNORECASE
)
_BLOCK_WINDOW = 4

_PHONE_FOOTER = re.compile(
    r"^(?:Sent from (?:my )?\S.{0,40}|Sent with \S.{0,40}|Get Outlook for \S.{0,30}"
    r"|Отправлено (?:с|из|через) .{1,50}|Отправлено с моего .{1,40})$",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^--\s?$")
# A horizontal rule left above the cut: Outlook's <hr> as html2text writes it ("* * *").
_RULE = re.compile(r"^(?:[*_=\-]\s*){3,}$")


# One alternation each, so a line costs one regex call rather than one per form.
_ATTRIBUTION = re.compile("|".join(f"(?:{p.pattern})" for p in _ATTRIBUTIONS))
_SEPARATOR = re.compile("|".join(f"(?:{p.pattern})" for p in _SEPARATORS), re.IGNORECASE)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


# Attribution lines are short; longer lines are not tried, which also bounds the regex
# work a hostile reply can cause.
_MAX_ATTRIBUTION = 400


def _matches_attribution(line: str) -> bool:
    if len(line) > _MAX_ATTRIBUTION or not line.endswith(":"):
        return False
    return _ATTRIBUTION.match(line) is not None


def _is_header_block(from_line: str, following: list[str]) -> bool:
    if not any(_BLOCK_SENT.match(line) for line in following):
        return False
    return "@" in from_line or any(_BLOCK_SUBJECT.match(line) for line in following)


def _history_start(lines: list[str]) -> int | None:
    """Index of the first line of quoted history outside a '>' block, or None."""
    stripped = [line.strip() for line in lines]
    last = len(stripped) - 1
    # Every line of a reply passes here, so the cheap character tests run before the
    # regexes (1 MB of one-character lines stays well under the strip budget).
    for i, line in enumerate(stripped):
        if not line or line[0] == ">":
            continue
        if _FORWARD.match(line):
            return None
        if line[-1] == ":" and _matches_attribution(line):
            return i
        if line[0] in "-_" and _SEPARATOR.match(line):
            return i
        if _BLOCK_FROM.match(line) and _is_header_block(
            line, stripped[i + 1 : i + 1 + _BLOCK_WINDOW]
        ):
            return i
        if i < last:
            following = stripped[i + 1]
            # A client wrapped the attribution; the second half alone is not one.
            if following.endswith(":") and not _matches_attribution(following):
                if _matches_attribution(f"{line} {following}"):
                    return i
    return None


def _drop_trailing_quote(lines: list[str]) -> list[str]:
    end = len(lines)
    cut = end
    while end > 0:
        line = lines[end - 1].lstrip()
        if line.startswith(">"):
            cut = end - 1
        elif line:
            break
        end -= 1
    return lines[:cut]


def _drop_signature(lines: list[str]) -> list[str]:
    for i in range(len(lines) - 1, -1, -1):
        if _SIGNATURE.match(lines[i]):
            return lines[:i]
    return lines


def _drop_footer(lines: list[str]) -> list[str]:
    # An index, not `lines = lines[:-1]`: 200,000 trailing blank lines copied the list
    # each time and took 35 s (docs/reliability.md case 38).
    end = len(lines)
    while end:
        last = lines[end - 1].strip()
        if not last or _RULE.match(last) or _PHONE_FOOTER.match(last):
            end -= 1
        else:
            break
    return lines[:end]


def _bottom_posted(lines: list[str]) -> list[str]:
    """New text written below the quote: keep what is neither quoted nor attribution."""
    return [
        line for line in lines if not _is_quoted(line) and not _matches_attribution(line.strip())
    ]


def strip_reply(text: str) -> str:
    """The new text of a reply, without quoted history, signature or phone footer."""
    original = text.replace("\r\n", "\n").replace("\r", "\n")
    # Leading and trailing blank lines never change the answer (the result is stripped),
    # and a mail of nothing but line breaks would otherwise cost one pass per line.
    lines = original.strip().split("\n")
    start = _history_start(lines)
    if start is not None:
        head = lines[:start]
        if any(line.strip() for line in head):
            lines = head
        elif any(_is_quoted(line) for line in lines[start + 1 : start + 4]):
            lines = _bottom_posted(lines[start:])
    lines = _drop_trailing_quote(lines)
    lines = _drop_signature(lines)
    lines = _drop_footer(lines)
    result = "\n".join(lines).strip()
    return result or original.strip()
