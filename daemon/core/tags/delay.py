"""#delay WHEN [reason]: move the due time and tell the client why (the rule of #due)."""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.tags._base import ALL, Tag
from daemon.core.tags.due import move_due
from parsers.tags import ArgKind

TAG = Tag(
    name="delay", arg=ArgKind.WHEN_AND_TEXT, usage="WHEN [reason]", order=70, roles=ALL, rule=move_due,
    help_ru="перенести срок и сообщить клиенту причину",
    help_en="move the due time and tell the client the reason",
    client_notice=kinds.DELAY, strength=30, line_text="reason",
)
