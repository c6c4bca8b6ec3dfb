"""The soak's traffic and its ledger: what was appended when, and what the sink saw come back.

`Traffic` draws the next mail: client mail from bench/corpus.py (new tasks and replies),
5 % malformed, 5 % automatic (vacation responders, with and without RFC 3834 markers),
and staff answers by tag to manager notices the sink has seen. `Ledger` keeps, per
appended Message-ID, its kind and APPEND time, and matches acknowledgements (a mail to
the client, `Auto-Submitted: auto-replied`, `In-Reply-To` = the task's Message-ID).
"""

from __future__ import annotations

import collections
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.parser import BytesHeaderParser
from email.utils import format_datetime, make_msgid

from bench.corpus import Client, generate
from daemon.sandbox.smtp import Received
from tests.integration.deskrig import client_mail, reply_to

STAFF_LINES = (
    "#reply Добрый день! Уже занимаемся, ответим сегодня.",
    "#note клиент просил перезвонить после шести",
    "#reply Уточните, пожалуйста, удобное время.",
    "#done Готово, подтверждение во вложении не требуется.",
)
_HEADERS = BytesHeaderParser(policy=policy.compat32)
MID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def norm(mid: str | None) -> str:
    return (mid or "").strip().strip("<>").lower()


@dataclass
class Sent:
    kind: str  # new, reply, malformed, automatic, staff
    at: float  # time.monotonic() just before APPEND


@dataclass
class Ledger:
    clients: frozenset[str]
    manager: str
    appended: dict[str, Sent] = field(default_factory=dict)
    acks: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    outgoing_ids: set[str] = field(default_factory=set)
    notices: collections.deque[bytes] = field(default_factory=lambda: collections.deque(maxlen=40))
    received = 0
    received_bytes = 0

    def note_appended(self, mid: str, kind: str, at: float) -> None:
        self.appended[norm(mid)] = Sent(kind, at)

    def take(self, mails: list[Received]) -> None:
        for mail in mails:
            self.received += 1
            self.received_bytes += len(mail.raw)
            headers = _HEADERS.parsebytes(mail.raw[:65536], headersonly=True)
            self.outgoing_ids.add(norm(headers.get("Message-ID")))
            rcpts = {r.lower() for r in mail.rcpt_tos}
            auto = (headers.get("Auto-Submitted") or "").strip().lower()
            parent = norm(headers.get("In-Reply-To"))
            if rcpts & self.clients and auto == "auto-replied" and parent in self.appended:
                self.acks[parent].append(mail.at)
            elif self.manager in rcpts and headers.get("Reply-To"):
                self.notices.append(mail.raw)

    def expected_acks(self) -> list[str]:
        return [mid for mid, sent in self.appended.items() if sent.kind == "new"]

    def latencies(self) -> list[float]:
        return [self.acks[mid][0] - self.appended[mid].at for mid in self.expected_acks() if self.acks.get(mid)]

    def missing_acks(self) -> list[str]:
        return [mid for mid in self.expected_acks() if not self.acks.get(mid)]

    def duplicate_acks(self) -> int:
        return sum(len(v) - 1 for v in self.acks.values() if len(v) > 1)


class Traffic:
    """The next mail to append: (Message-ID, kind, bytes)."""

    def __init__(self, clients: list[Client], support: str, manager: str, seed: int,
                 malformed: float = 0.05, automatic: float = 0.05, staff: float = 0.08) -> None:
        self.rng = random.Random(seed)
        self.clients = clients
        self.support = support
        self.manager = manager
        self.shares = (malformed, automatic, staff)
        # Lazily: the Date header is the moment the mail is drawn.
        self.corpus = generate(clients, support, 10**6, seed=seed, reply_share=0.3, attach_share=0.02,
                               attach_max=512 * 1024)
        self.count = 0

    def next(self, ledger: Ledger) -> tuple[str, str, bytes]:
        self.count += 1
        roll = self.rng.random()
        malformed, automatic, staff = self.shares
        if roll < malformed:
            return self.malformed()
        if roll < malformed + automatic:
            return self.automatic()
        if roll < malformed + automatic + staff and ledger.notices:
            return self.staff_answer(ledger.notices[self.rng.randrange(len(ledger.notices))])
        mail = next(self.corpus)
        return mail.message_id, mail.kind, mail.raw

    def _mid(self, client: Client) -> str:
        return make_msgid(idstring=f"soak{self.count}", domain=client.email.split("@")[1])

    def malformed(self) -> tuple[str, str, bytes]:
        client = self.rng.choice(self.clients)
        mid = self._mid(client)
        date = format_datetime(datetime.now(UTC)).encode()
        head = f"Message-ID: {mid}\n".encode() + b"Date: " + date + b"\n"
        kind = self.rng.randrange(4)
        if kind == 0:  # no From at all
            raw = head + b"To: " + self.support.encode() + b"\nSubject: no sender\n\nhello\n"
        elif kind == 1:  # a multipart whose boundary never comes, base64 that is not
            raw = head + (f"From: {client.email}\nTo: {self.support}\nSubject: broken\nMIME-Version: 1.0\n"
                          "Content-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\nContent-Type: text/plain\n"
                          "Content-Transfer-Encoding: base64\n\n%%%% not base64 %%%%\n").encode()
        elif kind == 2:  # an unknown charset with 8-bit bytes
            raw = (head + f"From: {client.email}\nTo: {self.support}\nSubject: charset\n".encode()
                   + b"Content-Type: text/plain; charset=x-no-such-charset\n\n\xcf\xf0\xe8\xe2\xe5\xf2\n")
        else:  # raw 8-bit in headers, no MIME declaration
            raw = (head + f"From: {client.email}\nTo: {self.support}\n".encode()
                   + b"Subject: \xc7\xe0\xea\xe0\xe7 \xf2\xe0\xea\xf1\xe8\n\n\xd2\xe5\xea\xf1\xf2\n")
        return mid, "malformed", raw

    def automatic(self) -> tuple[str, str, bytes]:
        client = self.rng.choice(self.clients)
        mid = self._mid(client)
        # Half say so the RFC 3834 way; half only the way some responders do (X-Autoreply, Precedence).
        extra = ({"Auto-Submitted": "auto-replied"} if self.rng.random() < 0.5
                 else {"X-Autoreply": "yes", "Precedence": "auto_reply"})
        raw = client_mail(client.email, self.support, "Автоответ: Re: ваша заявка",
                          "Я в отпуске до понедельника, отвечу по возвращении.", name=client.name,
                          message_id=mid, extra=extra)
        return mid, "automatic", raw

    def staff_answer(self, notice_raw: bytes) -> tuple[str, str, bytes]:
        notice = message_from_bytes(notice_raw, policy=policy.default)
        raw = reply_to(notice, self.manager, self.rng.choice(STAFF_LINES))  # type: ignore[arg-type]
        found = MID.search(raw)
        assert found is not None
        return found.group(1).decode(), "staff", raw
