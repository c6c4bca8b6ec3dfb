"""Schema versions and the upgrades between them, applied in order at start-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from store import models
from store.once_keys import renewal_key


def _v1(db: peewee.Database) -> None:
    # A fresh database gets today's tables at once; the later steps then only
    # add what an older database lacks, so each step checks before it adds.
    db.create_tables(models.MODELS, safe=True)


def _add_missing(db: peewee.Database, model: type[peewee.Model], *fields: peewee.Field) -> None:
    table = model._meta.table_name
    present = {c.name for c in db.get_columns(table)}
    migrator = SchemaMigrator.from_database(db)
    steps = [migrator.add_column(table, f.column_name, f) for f in fields if f.column_name not in present]
    if steps:
        migrate(*steps)


def _v2(db: peewee.Database) -> None:
    """Staff workflow: assignee, due time, merges, dedicated assistants."""
    _add_missing(db, models.Ticket, models.Ticket.assignee_email, models.Ticket.due_at,
                 models.Ticket.merged_into, models.Ticket.closed_at)
    _add_missing(db, models.Client, models.Client.assistant_email)


def _v3(db: peewee.Database) -> None:
    """Timers: the response clock, waiting, breaches, and the Timer table."""
    _add_missing(db, models.Ticket, models.Ticket.response_started_at, models.Ticket.waiting_since,
                 models.Ticket.breached_at)
    db.create_tables([models.Timer], safe=True)


def _v4(db: peewee.Database) -> None:
    """Billing: quota uses, invoices, the deposit ledger, suspension."""
    _add_missing(db, models.Client, models.Client.deposit_pays_tariff, models.Client.suspended_at)
    db.create_tables([models.QuotaUse, models.Invoice, models.LedgerEntry], safe=True)


def _move_raw(db: peewee.Database, table: str, body: type[peewee.Model], key: str) -> None:
    if "raw" not in {c.name for c in db.get_columns(table)}:
        return
    db.execute_sql(f'INSERT INTO "{body._meta.table_name}" ("{key}", "raw") SELECT "id", "raw" FROM "{table}"')
    migrate(SchemaMigrator.from_database(db).drop_column(table, "raw"))


def _v5(db: peewee.Database) -> None:
    """Mail bytes in their own tables, so bookkeeping updates do not rewrite them."""
    db.create_tables([models.SpoolBody, models.OutboxBody], safe=True)
    _move_raw(db, "spool_entry", models.SpoolBody, "entry_id")
    _move_raw(db, "outbox", models.OutboxBody, "outbox_id")


def _v6(db: peewee.Database) -> None:
    """Flood caps: hour windows of capped notices per source, and what their digest owes."""
    db.create_tables([models.NoticeWindow], safe=True)


def _v7(db: peewee.Database) -> None:
    """One-off timers a tag sets (#remind): their data, and data in the timer's unique key."""
    _add_missing(db, models.Timer, models.Timer.data)
    names = {index.name for index in db.get_indexes("timer")}
    migrator = SchemaMigrator.from_database(db)
    if "timer_ticket_id_kind_fire_at" in names:
        migrate(migrator.drop_index("timer", "timer_ticket_id_kind_fire_at"))
    if "timer_ticket_id_kind_fire_at_data" not in names:
        migrate(migrator.add_index("timer", ("ticket_id", "kind", "fire_at", "data"), True))


def _v8_absences(db: peewee.Database) -> None:
    """Staff away and their deputies (issue 12)."""
    db.create_tables([models.StaffAbsence], safe=True)


def _v9_subscriptions(db: peewee.Database) -> None:
    """Subscriptions from the client's own start date (issue 12).

    Clients registered before had calendar-month periods, renewed before each month's end:
    they keep them, anchored on the 1st of the month they joined, paid until the end of the
    last month a renewal invoice covered, or else of the month this step runs in.
    """
    _add_missing(db, models.Client, models.Client.subscription_start, models.Client.paid_until)
    today = datetime.now(UTC).date()
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    # Only the columns this step knows: a later step may add Client columns not there yet.
    rows = (models.Client.select(models.Client.id, models.Client.created_at)
            .where(models.Client.subscription_start.is_null()).tuples())
    for client_id, created in list(rows):
        if not isinstance(created, datetime):
            created = datetime.fromisoformat(str(created))
        last_end = (models.Invoice.select(peewee.fn.MAX(models.Invoice.period_end))
                    .where(models.Invoice.client == client_id, models.Invoice.kind == "renewal").scalar())
        if isinstance(last_end, str):
            last_end = datetime.fromisoformat(last_end)
        # period_end is the local midnight that ends the period, stored in UTC; half a day
        # back is the period's last local day in any timezone from UTC-12 to UTC+12.
        paid_until = (last_end - timedelta(hours=12)).date() if last_end else month_end
        models.Client.update(subscription_start=created.date().replace(day=1), paid_until=paid_until) \
            .where(models.Client.id == client_id).execute()


def _v10_bounces(db: peewee.Database) -> None:
    """Issue 12, bounces: one row per DSN'd outbox mail, and addresses marked undeliverable."""
    db.create_tables([models.Bounce], safe=True)
    _add_missing(db, models.ClientAddress, models.ClientAddress.undeliverable_since)


def _v11_ops_state(db: peewee.Database) -> None:
    """Operating facts for status and metrics (issue 13): one table, nothing else changes."""
    db.create_tables([models.OpsState], safe=True)


def _v12_shared_store(db: peewee.Database) -> None:
    """Several daemons on one store: spool lanes and leases, outbox leases, once-keys.

    The once-keys of renewals already issued are filled in from the invoices; an old
    store that holds two renewals of one period keeps both rows and gets one key (the
    insert ignores the collision), so the upgrade never fails on old duplicates.
    """
    _add_missing(db, models.SpoolEntry, models.SpoolEntry.lane, models.SpoolEntry.claimed_by,
                 models.SpoolEntry.lease_until)
    _add_missing(db, models.Outbox, models.Outbox.lease_until)
    if "spool_entry_state_lane" not in {index.name for index in db.get_indexes("spool_entry")}:
        migrate(SchemaMigrator.from_database(db).add_index("spool_entry", ("state", "lane"), False))
    db.create_tables([models.OnceKey], safe=True)
    renewals = (models.Invoice.select(models.Invoice.client, models.Invoice.period_start)
                .where(models.Invoice.kind == "renewal", models.Invoice.period_start.is_null(False)).tuples())
    now = datetime.now(UTC).replace(tzinfo=None)
    for client_id, period_start in renewals:
        models.OnceKey.insert(key=renewal_key(client_id, period_start), at=now).on_conflict_ignore().execute()


# Append new steps; never edit a released one.
MIGRATIONS: tuple[Callable[[peewee.Database], None], ...] = (
    _v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8_absences, _v9_subscriptions, _v10_bounces, _v11_ops_state,
    _v12_shared_store,
)


def current_version(db: peewee.Database) -> int:
    if not models.SchemaVersion.table_exists():
        return 0
    row = models.SchemaVersion.select(peewee.fn.MAX(models.SchemaVersion.version)).scalar()
    return int(row or 0)


def upgrade(db: peewee.Database) -> int:
    """Apply every missing migration, each in its own transaction; return the version."""
    version = current_version(db)
    for number, step in enumerate(MIGRATIONS, start=1):
        if number <= version:
            continue
        with db.atomic():
            step(db)
            models.SchemaVersion.create(version=number, applied_at=datetime.now(UTC))
        version = number
    return version
