"""billing_tick on several daemons: a renewal per client and period, a suspension per unpaid
invoice, whatever two passes read before either committed (the once-keys, store/once.py)."""

from datetime import UTC, datetime, time, timedelta

from daemon.render.notices import Notifier
from daemon.runners import billing as billing_runner
from store import billing
from store.models import Client, Invoice, Outbox


def _day_before_paid_until() -> datetime:
    # Each client renews `renewal_days` before their own paid-until date (issue 12).
    return datetime.combine(Client.get().paid_until - timedelta(days=1), time(9, 0), UTC)


def test_two_passes_that_both_saw_no_renewal_issue_one(desk, monkeypatch):
    desk.client("ivan@client.test")
    # Both daemons read "no renewal for the period yet" before either committed.
    monkeypatch.setattr(billing, "issued_for_period", lambda client, start: False)
    near_end = _day_before_paid_until()
    notifier = Notifier(desk.settings)
    first = billing_runner.billing_tick(desk.settings, notifier, near_end)
    second = billing_runner.billing_tick(desk.settings, notifier, near_end)
    assert (first["renewal"], second["renewal"]) == (1, 0)
    assert Invoice.select().where(Invoice.kind == "renewal").count() == 1
    assert Outbox.select().where(Outbox.kind == "client.notice.invoice").count() == 1


def test_two_overdue_invoices_and_two_passes_suspend_once(desk, monkeypatch):
    desk.client("ivan@client.test")
    notifier = Notifier(desk.settings)
    near_end = _day_before_paid_until()
    monkeypatch.setattr(billing, "issued_for_period", lambda client, start: False)
    billing_runner.billing_tick(desk.settings, notifier, near_end)
    client = Client.get()
    spec = billing_runner.topup_spec(desk.settings, client, billing.money(2000), "")
    billing_runner.issue(desk.settings, notifier, client, spec, near_end, near_end)
    assert Invoice.select().where(Invoice.status == "open").count() == 2
    late = near_end + timedelta(days=60)
    # Both passes list both invoices as unpaid by a client not suspended yet.
    unpaid = billing.unpaid_past(late)
    monkeypatch.setattr(billing, "unpaid_past", lambda cutoff: list(unpaid))
    for _ in range(2):
        billing_runner.billing_tick(desk.settings, notifier, late)
    assert Outbox.select().where(Outbox.kind == "client.notice.suspended").count() == 1
    assert Client.get().suspended_at is not None
