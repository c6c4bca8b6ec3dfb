"""Peewee models: the tables of the store. Queries and writes live in other modules."""

from __future__ import annotations

import peewee as pw

from store.proxy import database


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = pw.IntegerField()
    applied_at = pw.DateTimeField()


class Counter(BaseModel):
    """Gapless sequences (ticket numbers, later invoice numbers), incremented inside a transaction."""

    name = pw.CharField(max_length=64, primary_key=True)
    value = pw.BigIntegerField(default=0)


class Client(BaseModel):
    email = pw.CharField(max_length=320, unique=True)
    name = pw.CharField(max_length=200)
    tariff = pw.CharField(max_length=64)
    manager_email = pw.CharField(max_length=320)
    language = pw.CharField(max_length=8, default="ru")
    active = pw.BooleanField(default=True)
    created_at = pw.DateTimeField()
    # The dedicated assistant of a "One" tariff client (schema v2).
    assistant_email = pw.CharField(max_length=320, null=True)
    # Schema v4: unspent deposit pays the next tariff invoice; suspension for unpaid invoices.
    deposit_pays_tariff = pw.BooleanField(default=False)
    suspended_at = pw.DateTimeField(null=True)
    # Issue 12: the subscription runs from the client's own start date (core/subscription.py);
    # paid_until is the last local day paid for (None: a tariff without periods).
    subscription_start = pw.DateField(null=True)
    paid_until = pw.DateField(null=True)


class ClientAddress(BaseModel):
    """Every registered address of a client, the primary one included."""

    client = pw.ForeignKeyField(Client, backref="addresses", on_delete="CASCADE")
    email = pw.CharField(max_length=320, unique=True)
    # Issue 12: set when the address reached limits.hard_bounce_limit hard bounces (client show).
    undeliverable_since = pw.DateTimeField(null=True)


class Ticket(BaseModel):
    number = pw.BigIntegerField(unique=True)
    key = pw.CharField(max_length=32, unique=True)
    client = pw.ForeignKeyField(Client, backref="tickets")
    subject = pw.TextField()
    # The subject without reply prefixes and tags, for the Re:-subject threading rule.
    subject_norm = pw.CharField(max_length=255, index=True)
    status = pw.CharField(max_length=16, default="new", index=True)
    manager_email = pw.CharField(max_length=320)
    created_at = pw.DateTimeField(index=True)
    updated_at = pw.DateTimeField()
    first_response_due = pw.DateTimeField(null=True, index=True)
    first_response_at = pw.DateTimeField(null=True)
    # Schema v2: who does the work, when it is due, where it was merged, when it closed.
    assignee_email = pw.CharField(max_length=320, null=True)
    due_at = pw.DateTimeField(null=True, index=True)
    merged_into = pw.CharField(max_length=32, null=True)
    closed_at = pw.DateTimeField(null=True)
    # Schema v3: the response clock (started by a client mail, stopped by a human
    # answer; first_response_due holds its deadline), waiting and breaches.
    response_started_at = pw.DateTimeField(null=True)
    waiting_since = pw.DateTimeField(null=True)
    breached_at = pw.DateTimeField(null=True, index=True)


class SpoolEntry(BaseModel):
    """A fetched mail's raw bytes, committed before the server copy is moved."""

    account = pw.CharField(max_length=320)
    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    uid = pw.BigIntegerField()
    sha256 = pw.CharField(max_length=64, index=True)
    size = pw.IntegerField()
    internaldate = pw.DateTimeField(null=True)
    # pending -> done | ignored | quarantined
    state = pw.CharField(max_length=16, default="pending", index=True)
    attempts = pw.IntegerField(default=0)
    outcome = pw.CharField(max_length=64, default="")
    error = pw.TextField(default="")
    message_id = pw.CharField(max_length=998, null=True)
    sender = pw.CharField(max_length=320, default="")
    ticket = pw.ForeignKeyField(Ticket, null=True, backref="spool_entries")
    fetched_at = pw.DateTimeField()
    processed_at = pw.DateTimeField(null=True)
    # Schema v12 (several daemons on one store, store/claims.py): the mail's lane (its sender's
    # client, else its From address) keeps one client's mails in order; a claim is a lease.
    # A default in the schema too: rows written by SQL that predates these columns stay valid.
    lane = pw.CharField(max_length=320, default="", constraints=[pw.SQL("DEFAULT ''")])
    claimed_by = pw.CharField(max_length=64, default="", constraints=[pw.SQL("DEFAULT ''")])
    lease_until = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("account", "mailbox", "uidvalidity", "uid"), True), (("state", "lane"), False))


class Message(BaseModel):
    """One entry of a ticket's timeline: a mail in, a mail out, or an internal note."""

    ticket = pw.ForeignKeyField(Ticket, backref="messages", on_delete="CASCADE")
    direction = pw.CharField(max_length=8)  # in (client) / staff / out / note
    kind = pw.CharField(max_length=32, default="mail")
    # Never Message-ID alone: sha256 of (sender, Message-ID) or of sender+date+subject+body.
    dedupe_key = pw.CharField(max_length=64, unique=True, null=True)
    message_id = pw.CharField(max_length=998, null=True, index=True)
    sender = pw.CharField(max_length=320)
    recipients = pw.TextField(default="")
    subject = pw.TextField(default="")
    text = pw.TextField(default="")
    spool = pw.ForeignKeyField(SpoolEntry, null=True, backref="messages")
    created_at = pw.DateTimeField()


class AttachmentMeta(BaseModel):
    """Name, type, size and hash of a file; the bytes stay in the spooled raw mail."""

    message = pw.ForeignKeyField(Message, backref="attachments", on_delete="CASCADE")
    filename = pw.CharField(max_length=255)
    content_type = pw.CharField(max_length=255)
    size = pw.IntegerField()
    sha256 = pw.CharField(max_length=64)


class Outbox(BaseModel):
    """A rendered mail waiting to be sent; the Message-ID is fixed at insert time."""

    message_id = pw.CharField(max_length=998, unique=True)
    ticket = pw.ForeignKeyField(Ticket, null=True, backref="outbox")
    kind = pw.CharField(max_length=32)
    envelope_from = pw.CharField(max_length=320)
    recipients = pw.TextField()
    # pending -> sending -> sent | dead ; 'sending' rows found at start-up are ambiguous.
    status = pw.CharField(max_length=16, default="pending", index=True)
    attempts = pw.IntegerField(default=0)
    resends = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(index=True)
    last_error = pw.TextField(default="")
    created_at = pw.DateTimeField()
    sent_at = pw.DateTimeField(null=True)
    claimed_by = pw.CharField(max_length=64, default="")
    # Schema v12: a 'sending' row is held until then; only an expired lease is sent again.
    lease_until = pw.DateTimeField(null=True)


class SpoolBody(BaseModel):
    """The bytes of a spooled mail, apart from its bookkeeping row (schema v5).

    SQLite rewrites a whole row, overflow pages included, on every UPDATE: a
    state change of a spool entry or an outbox row would copy a 2 MB mail again.
    """

    entry = pw.ForeignKeyField(SpoolEntry, primary_key=True, backref="bodies", on_delete="CASCADE")
    raw = pw.BlobField()


class OutboxBody(BaseModel):
    """The bytes of an outgoing mail, apart from its send bookkeeping (schema v5)."""

    outbox = pw.ForeignKeyField(Outbox, primary_key=True, backref="bodies", on_delete="CASCADE")
    raw = pw.BlobField()


class AutoReplyLog(BaseModel):
    """Automatic mails sent per address, for the per-recipient daily cap."""

    address = pw.CharField(max_length=320, index=True)
    kind = pw.CharField(max_length=32)
    sent_at = pw.DateTimeField(index=True)


class Event(BaseModel):
    """State changes and decisions on a ticket, for the timeline and audits."""

    ticket = pw.ForeignKeyField(Ticket, null=True, backref="events", on_delete="CASCADE")
    at = pw.DateTimeField(index=True)
    kind = pw.CharField(max_length=32)
    detail = pw.TextField(default="")


class Timer(BaseModel):
    """A deadline of a ticket (reminder, escalation, notice); fired once, in the store, not in memory."""

    ticket = pw.ForeignKeyField(Ticket, backref="timers", on_delete="CASCADE")
    kind = pw.CharField(max_length=32)
    fire_at = pw.DateTimeField()
    fired_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField()
    # What a one-off timer (#remind) needs when it fires, as a JSON object; "" for derived ones.
    data = pw.TextField(default="")

    class Meta:
        # The same deadline planned twice is one timer, so a replan never repeats a fired one;
        # two reminders at one time on one ticket differ in their data and are two timers.
        indexes = ((("ticket", "kind", "fire_at", "data"), True), (("fired_at", "fire_at"), False))


class QuotaUse(BaseModel):
    """One accepted task counted in one quota period; released when the service cancels it."""

    client = pw.ForeignKeyField(Client, backref="quota_uses")
    ticket = pw.ForeignKeyField(Ticket, backref="quota_uses", on_delete="CASCADE")
    period_start = pw.DateTimeField()
    counted_at = pw.DateTimeField()
    forced = pw.BooleanField(default=False)
    released_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("client", "period_start"), False),)


class Invoice(BaseModel):
    """A numbered invoice (gapless per year via Counter); the PDF is rendered from these fields."""

    number = pw.CharField(max_length=32, unique=True)
    client = pw.ForeignKeyField(Client, backref="invoices")
    ticket = pw.ForeignKeyField(Ticket, null=True, backref="invoices")
    kind = pw.CharField(max_length=16)  # renewal / topup / request
    amount = pw.DecimalField(max_digits=14, decimal_places=2, auto_round=True)
    currency = pw.CharField(max_length=3)
    lines = pw.TextField()  # JSON rows, amounts as strings
    issued_at = pw.DateTimeField()
    due_at = pw.DateTimeField(index=True)
    period_start = pw.DateTimeField(null=True)
    period_end = pw.DateTimeField(null=True)
    status = pw.CharField(max_length=8, default="open", index=True)  # open / paid
    paid_at = pw.DateTimeField(null=True)
    reminded_at = pw.DateTimeField(null=True)


class LedgerEntry(BaseModel):
    """The deposit ledger: append-only; the balance is the sum of the amounts."""

    client = pw.ForeignKeyField(Client, backref="ledger")
    kind = pw.CharField(max_length=16)  # payment / expense / tariff / refund
    amount = pw.DecimalField(max_digits=14, decimal_places=2, auto_round=True)
    at = pw.DateTimeField()
    note = pw.TextField(default="")
    ticket = pw.ForeignKeyField(Ticket, null=True, backref="ledger")
    invoice = pw.ForeignKeyField(Invoice, null=True, backref="ledger")


class FolderState(BaseModel):
    """Last UIDVALIDITY seen per mailbox folder, to notice a reset."""

    account = pw.CharField(max_length=320)
    mailbox = pw.CharField(max_length=255)
    uidvalidity = pw.BigIntegerField()
    updated_at = pw.DateTimeField()

    class Meta:
        indexes = ((("account", "mailbox"), True),)


class NoticeWindow(BaseModel):
    """One hour of capped notices of one kind, from one source, to one set of recipients (v6).

    The hour opens with the first notice. Notices over the cap are only counted here
    (`held`, with a few ticket keys or spool ids in `labels`); when the hour has passed the
    scheduler mails one digest and stamps `digest_at`, so a restart never loses or repeats it.
    """

    kind = pw.CharField(max_length=64)
    source = pw.CharField(max_length=320)
    recipients = pw.TextField()
    language = pw.CharField(max_length=8)
    opened_at = pw.DateTimeField()
    closes_at = pw.DateTimeField()
    sent = pw.IntegerField(default=0)
    held = pw.IntegerField(default=0)
    labels = pw.TextField(default="")
    digest_at = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("source", "closes_at"), False), (("digest_at", "closes_at"), False))


class StaffAbsence(BaseModel):
    """A staff member away until `until`, with a deputy (`oneassist staff away`, issue 12).

    One row per staff member; `staff back` deletes it, and it stops counting by itself at `until`.
    """

    email = pw.CharField(max_length=320, unique=True)
    deputy_email = pw.CharField(max_length=320)
    until = pw.DateTimeField(index=True)
    set_at = pw.DateTimeField()


class Bounce(BaseModel):
    """A delivery status notification about one outbox row (issue 12): one per row."""

    outbox = pw.ForeignKeyField(Outbox, unique=True, backref="bounce")
    address = pw.CharField(max_length=320, index=True)
    hard = pw.BooleanField()
    status = pw.CharField(max_length=16, default="")
    diagnostic = pw.TextField(default="")
    at = pw.DateTimeField()


class OpsState(BaseModel):
    """Operating facts the runners record for `status` and the metrics (issue 13).

    Kept in the store, not in a process, so they are right after a restart and whichever
    process wrote them: the fetcher's last good pass and IMAP state, OAuth2 token runs,
    send results and the ack-latency histogram. `value` is a counter or a state, `at` when
    it last changed, `text` an error for people.
    """

    name = pw.CharField(max_length=128, primary_key=True)
    value = pw.FloatField(default=0)
    at = pw.DateTimeField(null=True)
    text = pw.TextField(default="")


class OnceKey(BaseModel):
    """What must happen once across every daemon on one store (schema v12).

    A renewal per client and period, a suspension notice, a join reply per address and
    day, a refusal transcript, a quarantine alert: the caller inserts the key in the
    transaction that does the thing; a key already there makes it a no-op (store/once.py).
    """

    key = pw.CharField(max_length=400, unique=True)
    at = pw.DateTimeField()


MODELS = (SchemaVersion, Counter, Client, ClientAddress, Ticket, SpoolEntry, SpoolBody, Message,
          AttachmentMeta, Outbox, OutboxBody, AutoReplyLog, Event, FolderState, Timer, QuotaUse, Invoice, LedgerEntry,
          NoticeWindow, StaffAbsence, Bounce, OpsState, OnceKey)
