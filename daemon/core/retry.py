"""How to treat an SMTP result, and how long to wait before trying again. Pure."""

from __future__ import annotations

OK, TEMPORARY, PERMANENT = "ok", "temporary", "permanent"


def classify_smtp(code: int | None) -> str:
    """2xx sent; 4xx and no code at all (network trouble) retry; 5xx give up."""
    if code is None:
        return TEMPORARY
    if 200 <= code < 300:
        return OK
    if 500 <= code < 600:
        return PERMANENT
    return TEMPORARY


def backoff(attempts: int, jitter: float, *, base: float = 5.0, cap: float = 600.0) -> float:
    """Seconds to wait after the N-th failed attempt: exponential, capped, jittered.

    `jitter` in [0, 1) comes from the caller so this stays deterministic in tests;
    it spreads retries by up to +-20% so a recovered server is not hit at once.
    """
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * (0.8 + 0.4 * jitter)
