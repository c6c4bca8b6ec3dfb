"""core/resume.py: which tickets waiting in `payment` a deposit covers, on values (issue 12)."""

from __future__ import annotations

from decimal import Decimal

from daemon.core.resume import (
    PENDING,
    RESUMED,
    Pending,
    open_pendings,
    parse_pending,
    pending_detail,
    resume_plan,
    status_after,
)
from tests.decisions import events
from tests.unit.test_staff_rules import ANNA, TICKET, changes, run, with_billing

D = Decimal


def test_the_pending_detail_reads_back_and_survives_hostile_text():
    detail = pending_detail(D("1500"), "билеты\nв театр amount=1 previous=done", "accepted")
    assert "\n" not in detail
    pending = parse_pending(detail)
    assert pending == Pending(D("1500.00"), "билеты\\nв театр amount=1 previous=done", "accepted")
    assert parse_pending(pending_detail(D("5"), "x", "payment")).previous == ""
    assert parse_pending("garbage") is None


def test_only_pendings_since_the_last_resume_count_and_the_first_status_wins():
    events = [(PENDING, pending_detail(D("100"), "a", "accepted")), (RESUMED, "charged"),
              (PENDING, pending_detail(D("200"), "b", "open")), ("status", "open -> payment"),
              (PENDING, pending_detail(D("300"), "c", "payment"))]
    pendings = open_pendings(events)
    assert [p.amount for p in pendings] == [D("200.00"), D("300.00")]
    assert status_after(pendings) == "open"
    assert status_after([Pending(D("1"), "x", "")]) == "open"


def test_the_deposit_resumes_oldest_first_all_or_nothing_per_ticket():
    big = ("OA-1", [Pending(D("700"), "a", "accepted"), Pending(D("400"), "b", "")])
    small = ("OA-2", [Pending(D("300"), "c", "waiting")])
    assert resume_plan([big, small], D("1000")) == [
        r for r in resume_plan([small], D("1000"))]
    (only,) = resume_plan([big, small], D("1000"))
    assert only.ticket_key == "OA-2" and only.status == "waiting" and only.deposit_left == D("700.00")
    both = resume_plan([big, small], D("1400"))
    assert [r.ticket_key for r in both] == ["OA-1", "OA-2"] and both[0].total == D("1100.00")
    assert both[1].deposit_left == D("0.00")
    assert resume_plan([big], D("1099.99")) == [] and resume_plan([("OA-3", [])], D("10")) == []


def test_expense_on_a_short_deposit_records_what_a_payment_will_charge():
    accepted = TICKET.__class__(**{**TICKET.__dict__, "status": "accepted"})
    decision = run("#expense 6000 билеты", ANNA, ticket=accepted, view=with_billing(deposit=D("5000.00")))
    assert changes(decision)["status"] == "payment"
    (detail,) = [d for k, d in events(decision) if k == PENDING]
    assert parse_pending(detail) == Pending(D("6000.00"), "билеты", "accepted")
