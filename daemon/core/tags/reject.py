"""#reject [reason]: the task is refused; the quota count is given back; the client is told."""

from __future__ import annotations

from daemon.core import notice_kinds as kinds
from daemon.core.tags._base import LEADS, Tag
from daemon.core.tags.cancel import close_as
from parsers.tags import ArgKind

TAG = Tag(
    name="reject", arg=ArgKind.OPTIONAL_TEXT, usage="[reason]", order=100, roles=LEADS,
    rule=close_as("rejected"),
    help_ru="отказать в задаче; лимит возвращается",
    help_en="refuse the task; the quota is given back",
    client_notice=kinds.REJECTED, strength=60, line_text="both", answers_client=True,
)
