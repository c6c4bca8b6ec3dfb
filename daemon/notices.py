"""Builds the template context for each notice and renders it into an OutboundMail.

The context holds only the values of this one ticket and client (RELIABILITY
test 25): nothing else is reachable from a template. Client-facing mail goes
out in the personal manager's name with the client's reply token; staff mail
carries the staff reply token, which a client never sees.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import jinja2

from daemon.compose import Identity, build_message, make_environment, render_parts, to_outbound
from daemon.config import Settings
from daemon.model import InboundMail, Notice, OutboundMail
from parsers.addresses import domain_of
from parsers.subjects import tagged_subject
from parsers.tags import help_text
from parsers.tokens import reply_address
from store.db import from_db
from store.models import Client, Ticket


class Notifier:
    """Renders notices for one Settings; `now` is given per call by the caller's clock."""

    def __init__(self, settings: Settings, env: jinja2.Environment | None = None) -> None:
        self.settings = settings
        self.env = env or make_environment()
        self.domain = domain_of(settings.smtp.from_address) or "localhost"

    def new_message_id(self) -> str:
        # A recognizable local part lets us spot our own mail coming back (test 18).
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

    def ticket_context(self, ticket: Ticket, language: str) -> dict[str, Any]:
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
            # Quota and deposit arrive with billing; until then the notice shows "-".
            "tasks_left": "-",
            "deposit": "-",
            "manager_name": self.staff_name(ticket.manager_email),
            "assignee_name": self.staff_name(ticket.assignee_email),
            "status": ticket.status,
            "sla_minutes": _minutes(self.settings.sla.first_response_minutes),
            "due_local": self.local_time(from_db(ticket.first_response_due)),
            "task_due_local": self.local_time(from_db(ticket.due_at)),
            "cheat_sheet": help_text(language, service.ticket_prefix),
        }

    def identity(self, audience: str, ticket: Ticket | None) -> Identity:
        service = self.settings.service
        address = self.settings.smtp.from_address
        if ticket is None:
            return Identity(display_name=service.name, address=address)
        if audience == "client":
            # All client mail goes out in the personal manager's name (DESIGN rule 2).
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
            context.update(self.ticket_context(ticket, notice.language))
        for key, value in notice.context:
            context[key] = self.local_time(value) if isinstance(value, datetime) else value
        subject, text, html = render_parts(self.env, notice.template, notice.language, context)
        message_id = self.new_message_id()
        msg = build_message(
            identity=self.identity(audience, ticket), to=notice.to, subject=subject, text=text, html=html,
            message_id=message_id, date=now, loop_id=self.settings.loop_id,
            in_reply_to=notice.in_reply_to, references=notice.references + (
                (notice.in_reply_to,) if notice.in_reply_to and notice.in_reply_to not in notice.references
                else ()),
            autoreply=notice.autoreply, attachments=notice.attachments,
        )
        return to_outbound(msg, message_id=message_id, envelope_from=self.settings.smtp.bounce_address,
                           recipients=notice.to, kind=notice.template,
                           ticket_id=ticket.id if ticket is not None else None)


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
