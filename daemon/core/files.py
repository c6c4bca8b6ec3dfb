"""Which files of a staff answer go to the client, and how the transcript names them. Pure.

Every client-facing staff answer relays the staff mail's files, names, types and bytes
intact, inline images included (docs/tags.md, "Files and formatting"). A file over the
per-file size cap, or past the count cap, is not attached, and is never dropped in
silence: the staff transcript and the ticket's timeline name it.
"""

from __future__ import annotations

from dataclasses import dataclass

from parsers.mail import Attachment
from parsers.oneline import one_line


@dataclass(frozen=True)
class FileRelay:
    sent: tuple[Attachment, ...]
    # (file, why it was not sent)
    held: tuple[tuple[Attachment, str], ...] = ()


def human_size(size: int) -> str:
    for unit, step in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= step:
            return f"{size / step:.1f} {unit}"
    return f"{size} B"


def relay_files(attachments: tuple[Attachment, ...], max_bytes: int, max_files: int) -> FileRelay:
    """The files to attach, in the mail's order, and the ones held back with the reason."""
    sent: list[Attachment] = []
    held: list[tuple[Attachment, str]] = []
    for att in attachments:
        if att.size > max_bytes:
            held.append((att, f"over the {human_size(max_bytes)} cap per file"))
        elif len(sent) >= max_files:
            held.append((att, f"over the {max_files}-file cap per mail"))
        else:
            sent.append(att)
    return FileRelay(tuple(sent), tuple(held))


def _name(att: Attachment) -> str:
    # The file name is the sender's text: one line, so it cannot forge a transcript line.
    return one_line(att.filename or "attachment.bin")[:120]


def describe(relay: FileRelay) -> list[str]:
    """Transcript lines: what went out and what did not (empty when the mail had no files)."""
    lines: list[str] = []
    if relay.sent:
        lines.append("files sent to the client: " + "; ".join(
            f"{_name(a)} ({a.content_type}, {human_size(a.size)}{', inline' if a.inline else ''})"
            for a in relay.sent))
    for att, why in relay.held:
        lines.append(f"file NOT sent to the client ({why}; it stays in the desk): "
                     f"{_name(att)} ({human_size(att.size)})")
    return lines
