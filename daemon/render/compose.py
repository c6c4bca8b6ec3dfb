"""render(): templates + values -> an OutboundMail with our headers, ready for the outbox.

Pure given a jinja2 Environment: it never sends and never reads the clock
(the date and Message-ID come in as arguments). Every header value passes
through clean_header_text, so a decoded subject carrying CR/LF can neither
crash the message nor add a header (docs/reliability.md case 22). HTML templates
autoescape; text templates do not, and user data is only ever a value, never
template source (docs/reliability.md case 26).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import Message
from email.utils import format_datetime, formataddr
from html import escape
from typing import Any

import jinja2

from daemon.core.model import OutboundMail
from daemon.render import notice_catalogue
from parsers.headers import clean_header_text
from parsers.mail import Attachment


def make_environment(loader: jinja2.BaseLoader | None = None) -> jinja2.Environment:
    """The daemon's jinja2 setup; templates come from the installed package by default.

    Loaded through the package (not a path beside the source), so a wheel in
    site-packages or a zip finds the `templates` package wherever it was installed
    (docs/reliability.md case 42).
    """
    return jinja2.Environment(
        loader=loader or jinja2.PackageLoader(notice_catalogue.PACKAGE, notice_catalogue.TEMPLATE_FOLDER),
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
    """(subject, text, html or None) from templates/<lang>/<template>.*.j2.

    The catalogue says which parts a kind has: a missing HTML part is an error, not a
    quiet fall-back to text only.
    """
    kind = notice_catalogue.kind(template)
    base = f"{language}/{template}"
    subject = env.get_template(f"{base}.subject.j2").render(context)
    text = env.get_template(f"{base}.txt.j2").render(context)
    html = env.get_template(f"{base}.html.j2").render(context) if "html" in kind.parts else None
    return clean_header_text(subject), text, html


_FILES_LEFT = {
    "ru": "Ещё {count} файл(ов) не вложены в это письмо, они сохранены в системе:",
    "en": "{count} more file(s) are not attached to this mail; they are kept in the desk:",
}


def _size(size: int) -> str:
    for unit, step in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= step:
            return f"{size / step:.1f} {unit}"
    return f"{size} B"


def cap_files(text: str, html: str | None, attachments: tuple[Attachment, ...], limit: int,
              language: str) -> tuple[str, str | None, tuple[Attachment, ...]]:
    """At most `limit` files on one sent mail; the rest are listed by name and size.

    A client's mail of 20,000 parts became a 20,000-file notice to the manager
    (docs/reliability.md case 40). The files left off stay in the store with the ticket.
    """
    if len(attachments) <= limit:
        return text, html, attachments
    rest = attachments[limit:]
    lines = [_FILES_LEFT.get(language, _FILES_LEFT["en"]).format(count=len(rest))]
    lines += [f"- {clean_header_text(a.filename)} ({_size(a.size)})" for a in rest]
    listing = "\n".join(lines)
    text = f"{text.rstrip()}\n\n{listing}\n"
    if html is not None:
        items = "".join(f"<li>{escape(line[2:])}</li>" for line in lines[1:])
        html = f"{html}\n<p>{escape(lines[0])}</p><ul>{items}</ul>\n"
    return text, html, attachments[:limit]


# A Content-ID we write back as we read it: the dot-atom characters of RFC 5322, nothing else.
_CONTENT_ID = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.@-]{1,200}")
# Stands for the manager's text while the text template renders for the HTML part.
_HTML_MARK = "\x00oa-staff-html\x00"


def relayed_html(render_text: Callable[[str], str], line_text: str, fragment: str) -> str:
    """The HTML part of a staff answer: the notice's own wording, escaped, around the
    manager's sanitized fragment (parsers/html_relay.py), which stands where the text goes.

    `render_text(text)` renders the kind's text template with `text` as the message.
    """
    marked = render_text("\n\n".join(part for part in (line_text, _HTML_MARK) if part))
    body = escape(marked).replace("\n", "<br>\n").replace(escape(_HTML_MARK), f"<div>{fragment}</div>")
    return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
            f'<body style="font-family: Arial, sans-serif; font-size: 14px;">\n{body}\n</body></html>\n')


def _fold(name: str, value: str) -> str:
    """`Name: value`, folded at spaces to 78 columns (RFC 5322 2.2.3), ASCII only."""
    line, lines = f"{name}: ", []
    for word in value.split(" "):
        if len(line) + len(word) > 78 and line.strip() and not line.endswith(": "):
            lines.append(line.rstrip())
            line = " "
        line += word + " "
    lines.append(line.rstrip())
    return "\n".join(lines)


def _header(name: str, value: str) -> str:
    """One header line: cleaned of CR/LF, RFC 2047-encoded only where it must be.

    Every header goes through here, so a non-ASCII value (an internationalized address
    from a mail, say) is encoded rather than failing the whole notice.
    """
    value = clean_header_text(value)
    if value.isascii():
        return _fold(name, value)
    return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\n")


def _address(name: str, addr: str, header_name: str) -> str:
    """'Name <addr>' with the name RFC 2047-encoded when it is not ASCII."""
    name, addr = clean_header_text(name), clean_header_text(addr)
    if name.isascii():
        return _fold(header_name, formataddr((name, addr)))
    header = Header(name, "utf-8", header_name=header_name)
    header.append(f"<{addr}>", "us-ascii")
    return f"{header_name}: " + header.encode(linesep="\n")


def _text_part(body: str, subtype: str) -> bytes:
    # Quoted-printable keeps Cyrillic mail readable in a raw view and under 78 columns.
    # binascii does it in C; the email package's encoder is per character in Python.
    encoded = binascii.b2a_qp(body.replace("\r\n", "\n").encode("utf-8"), istext=True)
    if not encoded.endswith(b"\n"):
        encoded += b"\n"
    return (f'Content-Type: text/{subtype}; charset="utf-8"\n'
            "Content-Transfer-Encoding: quoted-printable\n\n").encode("ascii") + encoded


def _file_part(att: Attachment) -> bytes:
    maintype, _, subtype = (att.content_type or "application/octet-stream").partition("/")
    if maintype == "text" or not subtype or maintype == "multipart":
        # Bytes are sent as they came: a text/* part would be re-encoded.
        maintype, subtype = "application", "octet-stream"
    # The email package quotes and RFC 2231-encodes the parameters; the payload is ours.
    head = Message()
    head["Content-Type"] = f"{clean_header_text(maintype)}/{clean_header_text(subtype)}"
    head["Content-Transfer-Encoding"] = "base64"
    name = clean_header_text(att.filename) or "attachment.bin"
    # An inline image keeps its Content-ID, so the relayed HTML's <img src="cid:..."> finds it.
    content_id = clean_header_text(att.content_id or "").strip("<> ")
    if _CONTENT_ID.fullmatch(content_id):
        head["Content-ID"] = f"<{content_id}>"
    disposition = "inline" if att.inline else "attachment"
    if name.isascii() and len(name) <= _PLAIN_NAME_CHARS:
        head.add_header("Content-Disposition", disposition, filename=name)
        head.set_payload("")
        return head.as_bytes() + base64.encodebytes(att.payload or b"")
    head.set_payload("")
    head_bytes = head.as_bytes()
    # The header block ends with one blank line; the disposition goes before it.
    return head_bytes[:-1] + _disposition_2231(name, disposition).encode("ascii") + b"\n\n" + \
        base64.encodebytes(att.payload or b"")


_PLAIN_NAME_CHARS = 60
# RFC 2231 attribute-char: what may stand unencoded in an extended parameter value.
_ATTRIBUTE_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~")


def _disposition_2231(name: str, disposition: str = "attachment", chunk: int = 60) -> str:
    """Content-Disposition with the name in RFC 2231 continuations (filename*0*=, filename*1*=).

    The email package writes an encoded name as one parameter on one line: a 200-character
    Cyrillic name is 1,200 characters of %XX, past SMTP's 998-octet line limit, and the
    relay refused the whole notice (docs/reliability.md case 27). Each piece here is one
    folded line of at most ~70 characters; a %XX triplet is never split.
    """
    encoded = "".join(chr(b) if b in _ATTRIBUTE_CHARS else f"%{b:02X}" for b in name.encode("utf-8"))
    pieces: list[str] = []
    while encoded:
        cut = min(chunk, len(encoded))
        if "%" in encoded[max(0, cut - 2):cut]:
            cut = encoded.rindex("%", 0, cut)  # keep the triplet whole, in the next piece
        pieces.append(encoded[:cut])
        encoded = encoded[cut:]
    params = [f" filename*{i}*={'utf-8' + chr(39) * 2 if i == 0 else ''}{piece}" for i, piece in enumerate(pieces)]
    return f"Content-Disposition: {disposition};\n" + ";\n".join(params)


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    # "=_" can begin no line of quoted-printable or base64 text, so the boundary is safe.
    boundary = f"=_oa_{uuid.uuid4().hex}"
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode("ascii")]
    for part in parts:
        out += [f"--{boundary}\n".encode("ascii"), part]
    out.append(f"--{boundary}--\n".encode("ascii"))
    return b"".join(out)


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
) -> bytes:
    """The MIME message as bytes (LF line ends; the SMTP client sends CRLF).

    Written directly rather than through email.generator: the generator writes
    each line of an encoded body through several Python calls (a 2 MB file is
    35,000 lines), and was half of the daemon's time per notice. Every value
    here passes through clean_header_text, so none can add a header.
    """
    body = _text_part(text, "plain")
    if html is not None:
        body = _multipart("alternative", [body, _text_part(html, "html")])
        # Images the HTML shows travel beside it in multipart/related (RFC 2387).
        shown = tuple(a for a in attachments if a.content_id)
        if shown:
            body = _multipart("related", [body, *(_file_part(att) for att in shown)])
            attachments = tuple(a for a in attachments if a not in shown)
    if attachments:
        body = _multipart("mixed", [body, *(_file_part(att) for att in attachments)])
    headers = [
        _address(identity.display_name, identity.address, "From"),
        # Only the addresses the decision named: never a Cc of the inbound mail (docs/reliability.md case 25).
        _header("To", ", ".join(clean_header_text(a) for a in to)),
        _header("Subject", subject),
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{clean_header_text(message_id)}>",
    ]
    if identity.reply_to:
        headers.append(_header("Reply-To", identity.reply_to))
    if in_reply_to:
        headers.append(_header("In-Reply-To", f"<{clean_header_text(in_reply_to)}>"))
    refs = [r for r in references if r][-10:]
    if refs:
        headers.append(_header("References", " ".join(f"<{clean_header_text(r)}>" for r in refs)))
    headers.append(f"Auto-Submitted: {'auto-replied' if autoreply else 'auto-generated'}")
    # Ask robots not to answer, and mark the mail as ours for loop detection (docs/reliability.md cases 18, 19).
    headers.append("X-Auto-Response-Suppress: All")
    headers.append(_header("X-Loop", loop_id))
    for name, value in (extra_headers or {}).items():
        headers.append(_header(name, value))
    headers.append("MIME-Version: 1.0")
    return ("\n".join(headers) + "\n").encode("ascii") + body


def to_outbound(raw: bytes, *, message_id: str, envelope_from: str, recipients: tuple[str, ...],
                kind: str, ticket_id: int | None) -> OutboundMail:
    return OutboundMail(
        message_id=message_id,
        envelope_from=envelope_from,
        recipients=recipients,
        raw=raw,
        kind=kind,
        ticket_id=ticket_id,
    )
