"""The Russian production calendar through the real path (issue 12): with `country = "RU"` and no
holiday typed into the config, the acknowledgement promises the first answer after the New Year
holidays, and on a Saturday the government made a working day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daemon.config import load
from store.models import Ticket
from tests.integration.deskrig import client_mail
from tests.integration.test_sla import Clocked

CALENDAR = """[sla.calendar]
timezone = "Europe/Moscow"
country = "RU"
mon = "09:00-18:00"
tue = "09:00-18:00"
wed = "09:00-18:00"
thu = "09:00-18:00"
fri = "09:00-18:00"

[staff_mail]"""


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content().replace("\r\n", "\n")


def ack_for(desk, client: str, subject: str, arrived: datetime):
    # Past dates only: IMAP servers clamp an INTERNALDATE in the future.
    desk.deliver(client_mail(client, desk.support, subject, "Текст"), internaldate=arrived)
    Clocked(desk, arrived + timedelta(minutes=1)).cycle()
    return [m for m in desk.inbox(client) if subject in str(m["Subject"])][-1]


def test_new_year_holidays_and_a_transferred_saturday(desk):
    desk.config_path.write_text(desk.config_path.read_text().replace("[staff_mail]", CALENDAR))
    desk.settings = load(desk.config_path)
    client = desk.add_client()
    # Tuesday 30 December 2025, 17:50 Moscow: 10 minutes that day; 31 December (moved from
    # Sunday 5 January 2025), 1-8 January, 9 January (moved from Saturday 3 January) and the
    # weekend are days off: the answer is due on Monday 12 January 2026 at 09:05.
    ack = ack_for(desk, client, "Перед Новым годом", datetime(2025, 12, 30, 14, 50, tzinfo=UTC))
    assert "(до 12.01.2026 09:05 UTC+3)" in text_of(ack)
    assert Ticket.get(Ticket.key == "OA-1").first_response_due.replace(tzinfo=UTC) == \
        datetime(2026, 1, 12, 6, 5, tzinfo=UTC)
    # Friday 31 October 2025, 17:55: Saturday 1 November was a working day (Monday 3 November
    # was off instead), so the answer is due on Saturday at 09:10.
    ack = ack_for(desk, client, "Перед праздником", datetime(2025, 10, 31, 14, 55, tzinfo=UTC))
    assert "(до 01.11.2025 09:10 UTC+3)" in text_of(ack)
