"""Builds the template context for each notice and renders it into an OutboundMail.

The context holds only the values of this one ticket and client (docs/reliability.md
case 25): nothing else is reachable from a template. Client-facing mail goes
out in the personal manager's name with the client's reply token; staff mail
carries the staff reply token, which a client never sees.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

import jinja2
import markupsafe

from daemon.config import Settings
from daemon.core import notice_kinds as kinds
from daemon.core.billing import InvoiceLine, format_money
from daemon.core.errors import QuarantineError
from daemon.core.model import IssuedInvoice, MoneyView, Notice, OutboundMail
from daemon.core.quota import format_quota, period_of, remaining
from daemon.core.routing import status_word
from daemon.core.tags import help_text
from daemon.core.timetext import people_time
from daemon.faults import fail_on
from daemon.render.compose import (
    Identity,
    build_message,
    cap_files,
    make_environment,
    relayed_html,
    render_parts,
    to_outbound,
)
from parsers.addresses import domain_of
from parsers.mail import Attachment, InboundMail
from parsers.subjects import tagged_subject
from parsers.tokens import reply_address
from store.billing import counted_period, deposit_of, invoice_by_id, issued, quota_used
from store.db import from_db, unavailable_reason
from store.rows import Client, Ticket

log = logging.getLogger("oneassist.render")
# The paragraph a deputy's client mail opens with (templates/*/client.notice.away_line.*).
AWAY_FRAGMENT = kinds.AWAY_LINE


class Notifier:
    """Renders notices for one Settings; `now` is given per call by the caller's clock."""

    def __init__(self, settings: Settings, env: jinja2.Environment | None = None) -> None:
        self.settings = settings
        self.env = env or make_environment()
        self.domain = domain_of(settings.smtp.from_address) or "localhost"

    def new_message_id(self) -> str:
        # A recognizable local part lets us spot our own mail coming back (docs/reliability.md case 18).
        return f"oneassist.{uuid.uuid4().hex}@{self.domain}"

    def staff_name(self, email: str | None) -> str:
        if not email:
            return ""
        member = self.settings.staff_by_email(email)
        return member.name if member else email.split("@")[0]

    def local_time(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        # With its zone: the reader's clock may not be the service's (daemon/core/timetext.py).
        return people_time(moment, self.settings.service.timezone)

    def money_view(self, client_id: int, tariff_code: str, now: datetime,
                   ticket_id: int | None = None) -> MoneyView | None:
        """The client's quota count and deposit, read BEFORE the apply transaction that renders.

        `ticket_id`: also read the period the ticket is counted in (a decision that releases it).
        None for a client without a known tariff: the notice shows "-".
        """
        tariff = self.settings.tariff(tariff_code)
        if tariff is None:
            return None
        start, _ = period_of(now, tariff.quota_period, self.settings.service.timezone)
        return MoneyView(period_start=start, quota=tariff.quota, quota_used=quota_used(client_id, start),
                         deposit=deposit_of(client_id), currency=tariff.currency,
                         ticket_counted_in=counted_period(ticket_id) if ticket_id is not None else None)

    def money_context(self, client: Client, language: str, money: MoneyView | None) -> dict[str, Any]:
        """Tasks left in the quota period and the deposit, as the client and staff see them. Pure."""
        tariff = self.settings.tariff(client.tariff)
        if tariff is None or money is None:
            return {"tasks_left": "-", "deposit": "-"}
        # "tasks left: 2 of 3": the count shown is what remains, not what was used.
        left = format_quota(money.quota, remaining(money.quota, money.quota_used) or 0, language)
        period_word = {"day": ("сегодня", "today"), "week": ("на этой неделе", "this week"),
                       "month": ("в этом месяце", "this month"),
                       "none": ("всего", "in total")}[tariff.quota_period][language != "ru"]
        return {"tasks_left": left, "quota_period_word": period_word,
                "deposit": format_money(money.deposit, money.currency, language)}

    def issued_invoice(self, invoice_id: int) -> IssuedInvoice:
        """An invoice read from the store, for notices rendered outside an apply (billing runs)."""
        invoice = invoice_by_id(invoice_id)
        return issued(invoice, invoice.client)

    def invoice_context(self, invoice: IssuedInvoice, language: str) -> tuple[dict[str, Any], Attachment]:
        """The invoice's lines and its PDF, from the values it was issued with. Pure."""
        # fpdf2 and its fonts cost ~35 MiB of RSS: loaded only once an invoice is mailed.
        from daemon.render.invoice_pdf import InvoiceDoc, render_invoice_pdf

        lines = tuple(InvoiceLine(d, q, u, t) for d, q, u, t in invoice.lines)
        tz = self.settings.service.timezone
        doc = InvoiceDoc(
            number=invoice.number, issued=invoice.issued_at.astimezone(tz).date(),
            due=invoice.due_at.astimezone(tz).date(), service_name=self.settings.service.name,
            client_name=invoice.client_name, client_email=invoice.client_email, lines=lines,
            total=invoice.amount, currency=invoice.currency, language=language,
            note=("Оплата по счёту: ответьте на это письмо или свяжитесь с менеджером."
                  if language == "ru" else "To pay, reply to this mail or contact your manager."),
        )
        pdf = render_invoice_pdf(doc)
        attachment = Attachment(filename=f"{invoice.number}.pdf", content_type="application/pdf", size=len(pdf),
                                sha256=hashlib.sha256(pdf).hexdigest(), payload=pdf)
        return {
            "invoice_number": invoice.number, "invoice_kind": invoice.kind,
            "invoice_total": format_money(invoice.amount, invoice.currency, language),
            "invoice_due": doc.due.strftime("%d.%m.%Y"),
            "invoice_lines": tuple((d, format_money(t, invoice.currency, language)) for d, _q, _u, t in
                                   invoice.lines),
        }, attachment

    def ticket_context(self, ticket: Ticket, language: str, money: MoneyView | None) -> dict[str, Any]:
        service = self.settings.service
        client: Client = ticket.client
        tariff = self.settings.tariff(client.tariff)
        return {
            "ticket_key": ticket.key,
            "subject": tagged_subject(ticket.key, ticket.subject, service.ticket_prefix)
            .removeprefix(f"[{ticket.key}]").strip(),
            "client_name": client.name,
            "client_email": client.email,
            "tariff_name": tariff.name if tariff else client.tariff,
            **self.money_context(client, language, money),
            "manager_name": self.staff_name(ticket.manager_email),
            "assignee_name": self.staff_name(ticket.assignee_email),
            "status": status_word(ticket.status, language),
            "sla_minutes": _minutes(self.settings.sla.first_response_minutes),
            "due_local": self.local_time(from_db(ticket.first_response_due)),
            "task_due_local": self.local_time(from_db(ticket.due_at)),
        }

    def identity(self, audience: str, ticket: Ticket | None) -> Identity:
        service = self.settings.service
        address = self.settings.smtp.from_address
        if ticket is None:
            return Identity(display_name=service.name, address=address)
        if audience == "client":
            # All client mail goes out in the personal manager's name (docs/service-rules.md rule 2).
            return Identity(display_name=f"{self.staff_name(ticket.manager_email)} — {service.name}",
                            address=address,
                            reply_to=reply_address(address, ticket.key, service.reply_token_secret))
        return Identity(display_name=f"{service.name} {ticket.key}", address=address,
                        reply_to=reply_address(address, ticket.key, service.staff_token_secret))

    def stand_in(self, context: dict[str, Any], given: tuple[tuple[str, object], ...]) -> str:
        """Names for a notice about someone away (core/absence.py); the deputy's email if they sign it.

        A deputy's answer is signed with the deputy's name and names the manager it stands in
        for (`away_manager_name`); the ack of a manager who is away names the deputy.
        """
        values = dict(given)
        if values.get("deputy_email"):
            context["deputy_name"] = self.staff_name(str(values["deputy_email"]))
        if values.get("covering_for"):
            context["covering_for"] = ", ".join(self.staff_name(str(e)) for e in values["covering_for"])
        signer = str(values.get("signed_by") or "")
        if signer:
            context["away_manager_name"] = context.get("manager_name", "")
            context["manager_name"] = self.staff_name(signer)
        return signer

    def away_paragraph(self, language: str, context: dict[str, Any], text: str,
                       html: str | None) -> tuple[str, str | None]:
        """A deputy's mail opens with "your manager is away until ..." (templates/*/client.notice.away_line)."""
        line = render_parts(self.env, AWAY_FRAGMENT, language, context)[1].strip()
        text = f"{line}\n\n{text}"
        if html is not None:
            paragraph = f"<p>{markupsafe.escape(line)}</p>"
            at = html.find(">", html.find("<body")) + 1 if "<body" in html else 0
            html = html[:at] + "\n" + paragraph + html[at:]
        return text, html

    def render(self, notice: Notice, ticket: Ticket | None, mail: InboundMail | None,
               now: datetime, money: MoneyView | None = None) -> OutboundMail:
        """The notice as a mail. Reads nothing from the store when the notice carries its invoice
        (`invoice`, as apply() gives it) rather than an `invoice_id` (billing runs, outside apply)."""
        service = self.settings.service
        audience = notice.template.split(".", 1)[0]
        context: dict[str, Any] = {"service_name": service.name, "join_url": service.join_url}
        if ticket is not None:
            context.update(self.ticket_context(ticket, notice.language, money))
        if audience == "staff":
            # Only staff mail carries the tag cheat sheet; clients never see it.
            context["cheat_sheet"] = help_text(notice.language, service.ticket_prefix)
        for key, value in notice.context:
            context[key] = self.local_time(value) if isinstance(value, datetime) else value
        signer = self.stand_in(context, notice.context)
        attachments = notice.attachments
        renamed = [a for a in attachments if a.original_name] if audience == "staff" else []
        if renamed:
            # A file whose name had to be made safe: the sender's own name, escaped, beside
            # the safe one (docs/reliability.md case 27), so staff see what was sent.
            context["files"] = tuple({"name": a.filename, "original": a.original_name,
                                      "kb": max(1, round(a.size / 1024))} for a in renamed)
        invoice = context.get("invoice")
        if invoice is None and "invoice_id" in context:
            invoice = self.issued_invoice(context["invoice_id"])
        if invoice is not None:
            invoice_context, pdf = self.invoice_context(invoice, notice.language)
            context.update(invoice_context)
            attachments = attachments + (pdf,)
        subject, text, html = render_parts(self.env, notice.template, notice.language, context)
        if signer and audience == "client":
            text, html = self.away_paragraph(notice.language, context, text, html)
        if html is None and context.get("html_text"):
            template = self.env.get_template(f"{notice.language}/{notice.template}.txt.j2")
            html = relayed_html(lambda body: template.render({**context, "text": body}),
                                str(context.get("line_text") or ""), str(context["html_text"]))
        fail_on("render", (subject + text).encode("utf-8", "replace"))
        text, html, attachments = cap_files(text, html, attachments,
                                            self.settings.limits.max_files_per_mail, notice.language)
        message_id = self.new_message_id()
        identity = self.identity(audience, ticket)
        if signer and audience == "client":
            identity = replace(identity, display_name=f"{context['manager_name']} — {service.name}")
        raw = build_message(
            identity=identity, to=notice.to, subject=subject, text=text, html=html,
            message_id=message_id, date=now, loop_id=self.settings.loop_id,
            in_reply_to=notice.in_reply_to, references=notice.references + (
                (notice.in_reply_to,) if notice.in_reply_to and notice.in_reply_to not in notice.references
                else ()),
            autoreply=notice.autoreply, attachments=attachments,
        )
        return to_outbound(raw, message_id=message_id, envelope_from=self.settings.smtp.bounce_address,
                           recipients=notice.to, kind=notice.template,
                           ticket_id=ticket.id if ticket is not None else None)


def render_or_park(notifier: Notifier, notice: Notice, ticket: Ticket | None, mail: InboundMail | None,
                   now: datetime, money: MoneyView | None = None) -> OutboundMail:
    """render(), or, when the template or the encoder raises, the notice parked (docs/reliability.md case 14).

    A parked notice is an OutboundMail with no body and `parked` = the reason: the outbox
    row is written dead, the ticket change of the client's mail commits all the same, and
    the caller tells the admins. A store that cannot write and a spent CPU budget are not
    render failures: they propagate.
    """
    try:
        return notifier.render(notice, ticket, mail, now, money)
    except QuarantineError:
        raise
    except Exception as exc:  # noqa: BLE001 - any bug in a template or the encoder
        if unavailable_reason(exc):
            raise
        # The exception's text may quote the mail (a subject, an address): only its type is logged.
        log.error("notice %s could not be rendered (%s); parked as dead", notice.template, type(exc).__name__)
        reason = f"could not be rendered: {type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
        return OutboundMail(message_id=notifier.new_message_id(), envelope_from=notifier.settings.smtp.bounce_address,
                            recipients=notice.to, raw=b"", kind=notice.template,
                            ticket_id=ticket.id if ticket is not None else None, parked=reason)


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
