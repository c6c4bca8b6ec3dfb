"""render(): templates + values -> an OutboundMail with our headers, ready for the outbox.

Pure given a jinja2 Environment: it never sends and never reads the clock
(the date and Message-ID come in as arguments). Every header value passes
through clean_header_text, so a decoded subject carrying CR/LF can neither
crash the message nor add a header (RELIABILITY test 22). HTML templates
autoescape; text templates do not, and user data is only ever a value, never
template source (test 26).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jinja2

from daemon.model import Attachment, OutboundMail
from parsers.headers import clean_header_text

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def make_environment(template_dir: Path = TEMPLATE_DIR) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class Identity:
    """Who a mail is from: the manager's name over the service's address."""

    display_name: str
    address: str
    reply_to: str | None = None


def render_parts(env: jinja2.Environment, template: str, language: str,
                 context: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """(subject, text, html or None) from templates/<lang>/<template>.*.j2."""
    base = f"{language}/{template}"
    subject = env.get_template(f"{base}.subject.j2").render(context)
    text = env.get_template(f"{base}.txt.j2").render(context)
    try:
        html_template = env.get_template(f"{base}.html.j2")
    except jinja2.TemplateNotFound:
        html = None
    else:
        html = html_template.render(context)
    return clean_header_text(subject), text, html


def _address(name: str, addr: str) -> Address:
    local, _, domain = addr.partition("@")
    return Address(display_name=clean_header_text(name), username=local, domain=domain)


def build_message(
    *,
    identity: Identity,
    to: tuple[str, ...],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    date: datetime,
    loop_id: str,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    autoreply: bool = True,
    extra_headers: Mapping[str, str] | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = _address(identity.display_name, identity.address)
    # Only the addresses the decision named: never a Cc of the inbound mail (test 25).
    msg["To"] = ", ".join(clean_header_text(a) for a in to)
    msg["Subject"] = clean_header_text(subject)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    if identity.reply_to:
        msg["Reply-To"] = clean_header_text(identity.reply_to)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{clean_header_text(in_reply_to)}>"
    refs = [r for r in references if r][-10:]
    if refs:
        msg["References"] = " ".join(f"<{clean_header_text(r)}>" for r in refs)
    if autoreply:
        msg["Auto-Submitted"] = "auto-replied"
    else:
        msg["Auto-Submitted"] = "auto-generated"
    # Ask robots not to answer, and mark the mail as ours for loop detection (test 18, 19).
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = clean_header_text(loop_id)
    for name, value in (extra_headers or {}).items():
        msg[name] = clean_header_text(value)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for att in attachments:
        maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
        if maintype == "text" or not subtype:
            # Passing bytes with maintype text would re-encode them; keep them exact.
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(att.payload, maintype=maintype, subtype=subtype,
                           filename=clean_header_text(att.filename) or "attachment.bin")
    return msg


def to_outbound(msg: EmailMessage, *, message_id: str, envelope_from: str, recipients: tuple[str, ...],
                kind: str, ticket_id: int | None) -> OutboundMail:
    return OutboundMail(
        message_id=message_id,
        envelope_from=envelope_from,
        recipients=recipients,
        raw=msg.as_bytes(),
        kind=kind,
        ticket_id=ticket_id,
    )
