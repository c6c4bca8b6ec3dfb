"""What a delivery status notification says about one recipient (RFC 3464). Pure.

Read from the message/delivery-status part of a multipart/report; a bounce without one
(old MTAs write prose) is read for an enhanced status code (RFC 3463) in its text.
Everything here is the sender's text: values are one line and length-capped, for the
timeline and the manager's notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from parsers.mail import InboundMail
from parsers.oneline import one_line

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_FIELD = re.compile(r"^([A-Za-z-]+):\s*(.*)$")
_MAX_VALUE = 300
_MAX_REPORT_BYTES = 64 * 1024


@dataclass(frozen=True)
class DsnReport:
    recipient: str
    action: str  # failed, delayed, delivered, relayed, expanded, or '' when unknown
    status: str  # e.g. 5.1.1, or ''
    diagnostic: str

    @property
    def hard(self) -> bool:
        """A permanent failure: the address will not take mail (5.x.x, or 'failed' without a code)."""
        return self.status.startswith("5") or (self.action == "failed" and not self.status)

    @property
    def failed(self) -> bool:
        """The mail did not arrive: a failure, or a bounce in prose with no success or delay code
        (a 'delayed' report says it may still arrive)."""
        if self.action == "failed" or self.status.startswith("5"):
            return True
        return self.action == "" and not self.status.startswith(("2", "4"))


def _fields(block: str) -> dict[str, str]:
    found: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and name:
            found[name] += " " + line.strip()
            continue
        match = _FIELD.match(line)
        if match:
            name = match.group(1).lower()
            found.setdefault(name, match.group(2).strip())
    return found


def _clean(value: str) -> str:
    return one_line(value)[:_MAX_VALUE]


def _address(value: str) -> str:
    # "rfc822; ivan@client.test"
    return _clean(value.partition(";")[2].strip() if ";" in value else value).strip("<>").lower()


def read_dsn(mail: InboundMail) -> DsnReport:
    """The first failed recipient of the report (else the first one), or what the text says."""
    for att in mail.attachments:
        if att.content_type.lower() != "message/delivery-status":
            continue
        text = att.payload[:_MAX_REPORT_BYTES].decode("utf-8", "replace").replace("\r\n", "\n")
        blocks = [_fields(b) for b in re.split(r"\n\s*\n", text) if b.strip()]
        recipients = [b for b in blocks if "final-recipient" in b or "action" in b]
        if not recipients:
            continue
        chosen = next((b for b in recipients if b.get("action", "").lower() == "failed"), recipients[0])
        status = _STATUS.search(chosen.get("status", ""))
        return DsnReport(recipient=_address(chosen.get("final-recipient", "")),
                         action=_clean(chosen.get("action", "")).lower(),
                         status=".".join(status.groups()) if status else "",
                         diagnostic=_clean(chosen.get("diagnostic-code", "")))
    status = _STATUS.search(mail.text[:_MAX_REPORT_BYTES])
    return DsnReport(recipient="", action="", status=".".join(status.groups()) if status else "",
                     diagnostic=_clean(mail.subject))
