"""The row types store functions hand out, for type hints outside store/.

A runner may read a row's fields. Asking the database anything, or writing, goes
through a named function of store/: tests/unit/test_store_only.py refuses a call on
these classes outside store/, and any import of peewee or store.models there.
"""

from store.models import Client, Invoice, NoticeWindow, Outbox, SpoolEntry, Ticket

__all__ = ["Client", "Invoice", "NoticeWindow", "Outbox", "SpoolEntry", "Ticket"]
