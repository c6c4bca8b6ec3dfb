"""The same words again and again from one sender: a responder without any marker (docs/reliability.md case 19).

An autoresponder that sets no Auto-Submitted, no X-Autoreply and no telling subject, and
does not thread, answers our acknowledgement with a fixed text and a fixed subject: each
answer would open a ticket, until the ack cap stops the ping-pong (40 tickets a day for
one responder). A new task whose subject and text this sender already sent `LIMIT` times
in the last 24 hours is taken as automatic instead: kept in the spool, no ticket, no ack. Replies to a
ticket are not counted (a client may well write "Спасибо!" twice).

The memory is the process's own and bounded: after a restart the count starts again,
which costs at most `LIMIT` more tickets. A person does not type the same task three
times a day; one who does gets the third into a ticket by changing a word.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime, timedelta

LIMIT = 2
WINDOW = timedelta(hours=24)
MAX_KEYS = 20_000


class RepeatedText:
    def __init__(self, limit: int = LIMIT, window: timedelta = WINDOW, max_keys: int = MAX_KEYS) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._seen: OrderedDict[str, list[datetime]] = OrderedDict()

    def repeated(self, sender: str, subject: str, text: str, now: datetime) -> bool:
        """Note this new task; True when the sender sent the same subject and text `limit` times already."""
        normalized = " ".join(subject.split()).casefold() + "\0" + " ".join(text.split()).casefold()
        key = hashlib.sha256(f"{sender.lower()}\0{normalized}".encode("utf-8", "surrogatepass")).hexdigest()
        times = [t for t in self._seen.pop(key, []) if now - t < self.window]
        before = len(times)
        times.append(now)
        self._seen[key] = times[-(self.limit + 1):]
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
        return before >= self.limit
