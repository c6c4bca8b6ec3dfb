"""smtp.max_per_minute: how many mails go to the relay in any rolling minute (docs/reliability.md case 35).

After an outage thousands of notices are due at once; a relay that sees them in one
burst starts deferring or blocks the account. The outbox claims no more than the
window has room for; the rest stays pending and goes as the minute rolls on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateWindow:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def room(self) -> int:
        """How many mails may be handed to the relay now."""
        with self._lock:
            self._expire()
            return max(0, self.per_minute - len(self._sent))

    def spent(self, count: int) -> None:
        """`count` mails were just handed to the relay (accepted or not: each was a transaction)."""
        now = self.clock()
        with self._lock:
            self._sent.extend([now] * count)
            self._expire()

    def _expire(self) -> None:
        horizon = self.clock() - 60.0
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
