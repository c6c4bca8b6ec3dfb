"""CPU accounting for the benchmarks: the machine is shared, so each run says how busy it was.

Reads /proc: a process's own CPU seconds, a process group's (Dovecot), and the whole
machine's busy share over a window, so a slow figure can be told from a busy neighbour.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from daemon.sandbox.dovecot import proc_stats

# -- CPU accounting: the machine is shared, so say how busy it was ------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a live process and its children (all their threads).

    `oneassist run` is a master with a runner process per stage (issue 11): the daemon's CPU
    is the tree's. A child already reaped counts through the parent's cutime/cstime; a live
    one on its own, from /proc/PID/stat.
    """
    total = 0.0
    for member in [pid, *child_pids(pid)]:
        try:
            with open(f"/proc/{member}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # After the ")" closing the command name: state is field 3, utime 14, stime 15,
        # cutime 16, cstime 17 (the reaped children's).
        total += sum(int(f) for f in fields[11:15]) / _TICK
    return total


def own_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of one live process alone (0.0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def child_pids(pid: int) -> list[int]:
    """The live direct children of `pid` (the master's runners)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def group_cpu_seconds(pgid: int | None) -> float:
    """CPU seconds of a process group (Dovecot's): live members plus reaped children.

    A reaped child's time is in its parent's cutime/cstime; a child still running counts
    on its own. Good to a few percent, which is all this is used for.
    """
    if not pgid:
        return 0.0
    return sum((int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / _TICK
               for _pid, f in proc_stats() if int(f[2]) == pgid)


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    total = sum(values[:8])
    idle = values[3] + values[4]
    return total, idle


@dataclass
class CpuWindow:
    """Where the machine's CPU went between start() and stop(): the daemon, this script, others."""

    pid: int | None = None
    dovecot_pgid: int | None = None
    _wall: float = 0.0
    _dovecot: float = 0.0
    _ticks: tuple[int, int] = (0, 0)
    _daemon: float = 0.0
    _own: float = 0.0
    _load: float = 0.0
    result: dict[str, float] | None = None

    def start(self, pid: int | None = None, dovecot_pgid: int | None = None) -> CpuWindow:
        self.pid, self.dovecot_pgid = pid, dovecot_pgid
        self._dovecot = group_cpu_seconds(dovecot_pgid)
        self._wall, self._ticks = time.monotonic(), _machine_ticks()
        self._daemon = process_cpu_seconds(pid) if pid else 0.0
        self._own = _own_cpu()
        self._load = os.getloadavg()[0]
        return self

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self._wall
        total, idle = _machine_ticks()
        d_total, d_idle = total - self._ticks[0], idle - self._ticks[1]
        cpus = os.cpu_count() or 1
        busy = cpus * (d_total - d_idle) / d_total if d_total else 0.0
        daemon = (process_cpu_seconds(self.pid) - self._daemon) if self.pid else 0.0
        own = _own_cpu() - self._own
        dovecot = group_cpu_seconds(self.dovecot_pgid) - self._dovecot
        ours = daemon + own + dovecot
        self.result = {
            "wall_seconds": round(wall, 3),
            "daemon_cpu_seconds": round(daemon, 3),
            "bench_cpu_seconds": round(own, 3),  # the sink, the poll loop, the floor's child
            "dovecot_cpu_seconds": round(dovecot, 3),
            "machine_busy_cpus": round(busy, 2),
            "other_processes_cpus": round(max(0.0, busy - ours / wall) if wall else 0.0, 2),
            "loadavg_1min_start": round(self._load, 2),
            "loadavg_1min_end": round(os.getloadavg()[0], 2),
        }
        return self.result


def _own_cpu() -> float:
    """CPU seconds of this process and of its children already reaped (the floor's worker).

    The daemon is reaped only after a window around it has closed, so it never counts twice.
    """
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def busy_note(window: dict[str, float] | None, limit: float = 0.3) -> str | None:
    """A warning when other processes took a real share of the CPUs during a measurement."""
    if window and window["other_processes_cpus"] > limit:
        return (f"other processes kept {window['other_processes_cpus']:.2f} of "
                f"{os.cpu_count()} CPUs busy (load {window['loadavg_1min_end']:.1f}): "
                "wall-clock figures of this run are pessimistic")
    return None


# -- the daemon as a process ---------------------------------------------------------------
