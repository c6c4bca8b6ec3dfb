"""Builds the template context for each notice and renders it into an OutboundMail.

The context holds only the values of this one ticket and client (RELIABILITY
test 25): nothing else is reachable from a template.
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

    def manager_name(self, email: str) -> str:
        member = self.settings.staff_by_email(email)
        return member.name if member else email.split("@")[0]

    def local_time(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        return moment.astimezone(self.settings.service.timezone).strftime("%d.%m.%Y %H:%M")

    def render(self, notice: Notice, ticket: Ticket | None, mail: InboundMail | None,
               now: datetime) -> OutboundMail:
        service = self.settings.service
        context: dict[str, Any] = {"service_name": service.name, "join_url": service.join_url}
        context.update(dict(notice.context))
        identity = Identity(display_name=service.name, address=self.settings.smtp.from_address)
        if ticket is not None:
            client: Client = ticket.client
            manager = self.manager_name(ticket.manager_email)
            context.update({
                "ticket_key": ticket.key,
                "subject": tagged_subject(ticket.key, ticket.subject, service.ticket_prefix)
                .removeprefix(f"[{ticket.key}]").strip(),
                "client_name": client.name,
                "manager_name": manager,
                "sla_minutes": _minutes(self.settings.sla.first_response_minutes),
                "due_local": self.local_time(from_db(ticket.first_response_due)),
            })
            identity = Identity(
                display_name=f"{manager} — {service.name}",
                address=self.settings.smtp.from_address,
                reply_to=reply_address(self.settings.smtp.from_address, ticket.key,
                                       service.reply_token_secret),
            )
        subject, text, html = render_parts(self.env, notice.template, notice.language, context)
        message_id = self.new_message_id()
        in_reply_to = mail.message_id if mail is not None else None
        references = (mail.references + ((mail.message_id,) if mail.message_id else ())) if mail else ()
        msg = build_message(
            identity=identity, to=notice.to, subject=subject, text=text, html=html,
            message_id=message_id, date=now, loop_id=self.settings.loop_id,
            in_reply_to=in_reply_to, references=references, autoreply=notice.autoreply,
        )
        return to_outbound(msg, message_id=message_id, envelope_from=self.settings.smtp.bounce_address,
                           recipients=notice.to, kind=notice.template,
                           ticket_id=ticket.id if ticket is not None else None)


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
