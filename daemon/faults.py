"""Crash checkpoints for the fault tests of docs/reliability.md cases 1 and 2 (kill at every step).

ONEASSIST_CRASH_AT="name:N" makes the N-th pass through checkpoint `name`
kill the process with SIGKILL, exactly as `kill -9` would: no cleanup, no
flush. Unset (the normal case) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_spec = os.environ.get("ONEASSIST_CRASH_AT", "")
_name, _, _count = _spec.partition(":")
_remaining = {_name: int(_count or 1)} if _name else {}

CHECKPOINTS = (
    "fetched",          # bodies fetched from IMAP, nothing stored yet
    "spooled",          # spool committed, server copy not yet moved
    "moved",            # server copy moved to the processed folder
    "applying",         # inside the apply transaction, a notice rendered, nothing committed
    "applied",          # ticket + outbox committed
    "smtp-accepted",    # the SMTP server said 250, outbox row not yet marked sent
    "marked-sent",      # outbox row marked sent
)


def checkpoint(name: str) -> None:
    if name in _remaining:
        _remaining[name] -= 1
        if _remaining[name] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)


_fail_spec = os.environ.get("ONEASSIST_FAIL_ON", "")
_fail_stage, _, _fail_marker = _fail_spec.partition(":")
# ONEASSIST_KILL_ON="stage:MARKER": the mail carrying MARKER kills the process with
# SIGKILL in `stage`, as an OOM kill or the watchdog would (docs/reliability.md case 39).
_kill_stage, _, _kill_marker = os.environ.get("ONEASSIST_KILL_ON", "").partition(":")


def fail_on(stage: str, data: bytes) -> None:
    """Raise in `stage` for data carrying the marker of ONEASSIST_FAIL_ON="stage:MARKER".

    Models a bug that one particular mail triggers (docs/reliability.md case 9, poison mail).
    """
    if _kill_stage == stage and _kill_marker and _kill_marker.encode() in data:
        os.kill(os.getpid(), signal.SIGKILL)
    if _fail_stage == stage and _fail_marker and _fail_marker.encode() in data:
        raise RuntimeError(f"injected fault in {stage}")
