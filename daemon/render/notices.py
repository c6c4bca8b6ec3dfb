"""Builds the template context for each notice and renders it into an OutboundMail.

The context holds only the values of this one ticket and client (docs/reliability.md
case 25): nothing else is reachable from a template. Client-facing mail goes
out in the personal manager's name with the client's reply token; staff mail
carries the staff reply token, which a client never sees.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import jinja2

from daemon.config import Settings
from daemon.core.billing import InvoiceLine, format_money
from daemon.core.model import Notice, OutboundMail
from daemon.core.quota import format_quota, period_of, remaining
from daemon.core.tags import help_text
from daemon.render.compose import (
    Identity,
    build_message,
    cap_files,
    make_environment,
    render_parts,
    to_outbound,
)
from parsers.addresses import domain_of
from parsers.mail import Attachment, InboundMail
from parsers.subjects import tagged_subject
from parsers.tokens import reply_address
from store.billing import deposit_of, invoice_by_id, invoice_lines_of, quota_used
from store.db import from_db
from store.rows import Client, Ticket


class Notifier:
    """Renders notices for one Settings; `now` is given per call by the caller's clock."""

    def __init__(self, settings: Settings, env: jinja2.Environment | None = None) -> None:
        self.settings = settings
        self.env = env or make_environment()
        self.domain = domain_of(settings.smtp.from_address) or "localhost"
        self._money: dict[tuple[int, str, datetime], dict[str, Any]] = {}

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
        return moment.astimezone(self.settings.service.timezone).strftime("%d.%m.%Y %H:%M")

    def money_context(self, client: Client, language: str, now: datetime) -> dict[str, Any]:
        """Tasks left in the quota period and the deposit, as the client and staff see them."""
        # One apply renders several notices for the same client at the same moment.
        key = (client.id, language, now)
        if key not in self._money:
            if len(self._money) > 256:
                self._money.clear()
            self._money[key] = self._money_context(client, language, now)
        return self._money[key]

    def _money_context(self, client: Client, language: str, now: datetime) -> dict[str, Any]:
        tariff = self.settings.tariff(client.tariff)
        if tariff is None:
            return {"tasks_left": "-", "deposit": "-"}
        start, _ = period_of(now, tariff.quota_period, self.settings.service.timezone)
        used = quota_used(client, start)
        # "tasks left: 2 of 3": the count shown is what remains, not what was used.
        left = format_quota(tariff.quota, remaining(tariff.quota, used) or 0, language)
        period_word = {"day": ("сегодня", "today"), "week": ("на этой неделе", "this week"),
                       "month": ("в этом месяце", "this month")}[tariff.quota_period][language != "ru"]
        return {"tasks_left": left, "quota_period_word": period_word,
                "deposit": format_money(deposit_of(client), tariff.currency, language)}

    def invoice_context(self, invoice_id: int, language: str) -> tuple[dict[str, Any], Attachment]:
        # fpdf2 and its fonts cost ~35 MiB of RSS: loaded only once an invoice is mailed.
        from daemon.render.invoice_pdf import InvoiceDoc, render_invoice_pdf

        invoice = invoice_by_id(invoice_id)
        client = invoice.client
        lines = tuple(InvoiceLine(d, q, u, t) for d, q, u, t in invoice_lines_of(invoice))
        tz = self.settings.service.timezone
        doc = InvoiceDoc(
            number=invoice.number, issued=from_db(invoice.issued_at).astimezone(tz).date(),
            due=from_db(invoice.due_at).astimezone(tz).date(), service_name=self.settings.service.name,
            client_name=client.name, client_email=client.email, lines=lines,
            total=Decimal(str(invoice.amount)), currency=invoice.currency, language=language,
            note=("Оплата по счёту: ответьте на это письмо или свяжитесь с менеджером."
                  if language == "ru" else "To pay, reply to this mail or contact your manager."),
        )
        pdf = render_invoice_pdf(doc)
        attachment = Attachment(filename=f"{invoice.number}.pdf", content_type="application/pdf", size=len(pdf),
                                sha256=hashlib.sha256(pdf).hexdigest(), payload=pdf)
        return {
            "invoice_number": invoice.number, "invoice_kind": invoice.kind,
            "invoice_total": format_money(Decimal(str(invoice.amount)), invoice.currency, language),
            "invoice_due": doc.due.strftime("%d.%m.%Y"),
            "invoice_lines": tuple((d, format_money(t, invoice.currency, language)) for d, _q, _u, t in
                                   invoice_lines_of(invoice)),
        }, attachment

    def ticket_context(self, ticket: Ticket, language: str, now: datetime) -> dict[str, Any]:
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
            **self.money_context(client, language, now),
            "manager_name": self.staff_name(ticket.manager_email),
            "assignee_name": self.staff_name(ticket.assignee_email),
            "status": ticket.status,
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

    def render(self, notice: Notice, ticket: Ticket | None, mail: InboundMail | None,
               now: datetime) -> OutboundMail:
        service = self.settings.service
        audience = notice.template.split(".", 1)[0]
        context: dict[str, Any] = {"service_name": service.name, "join_url": service.join_url}
        if ticket is not None:
            context.update(self.ticket_context(ticket, notice.language, now))
        if audience == "staff":
            # Only staff mail carries the tag cheat sheet; clients never see it.
            context["cheat_sheet"] = help_text(notice.language, service.ticket_prefix)
        for key, value in notice.context:
            context[key] = self.local_time(value) if isinstance(value, datetime) else value
        attachments = notice.attachments
        if "invoice_id" in context:
            invoice_context, pdf = self.invoice_context(context["invoice_id"], notice.language)
            context.update(invoice_context)
            attachments = attachments + (pdf,)
        subject, text, html = render_parts(self.env, notice.template, notice.language, context)
        text, html, attachments = cap_files(text, html, attachments,
                                            self.settings.limits.max_files_per_mail, notice.language)
        message_id = self.new_message_id()
        raw = build_message(
            identity=self.identity(audience, ticket), to=notice.to, subject=subject, text=text, html=html,
            message_id=message_id, date=now, loop_id=self.settings.loop_id,
            in_reply_to=notice.in_reply_to, references=notice.references + (
                (notice.in_reply_to,) if notice.in_reply_to and notice.in_reply_to not in notice.references
                else ()),
            autoreply=notice.autoreply, attachments=attachments,
        )
        return to_outbound(raw, message_id=message_id, envelope_from=self.settings.smtp.bounce_address,
                           recipients=notice.to, kind=notice.template,
                           ticket_id=ticket.id if ticket is not None else None)


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
