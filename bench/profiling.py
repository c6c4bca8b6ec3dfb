"""A py-spy profile of the daemon while a benchmark drives it (`--py-spy PATH`)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from bench.common import say


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        say(f"py-spy is not installed next to {sys.executable} (pip install py-spy); no profile")
        return None
    fmt = {".txt": "raw", ".json": "speedscope"}.get(out.suffix, "flamegraph")
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--output", str(out), "--format", fmt,
                             "--rate", "200", "--nonblocking", "--threads"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop_py_spy(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is None:
        return
    spy.send_signal(signal.SIGINT)
    try:
        _, err = spy.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        spy.kill()
        _, err = spy.communicate()
    if spy.returncode not in (0, -signal.SIGINT):
        say(f"py-spy exited {spy.returncode}: {err.decode(errors='replace')[-500:]}")
