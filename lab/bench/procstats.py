"""What a server process costs, read from /proc (Linux only).

`/proc/PID/stat` fields 14 and 15 (utime, stime) count CPU time in clock ticks
(`os.sysconf("SC_CLK_TCK")`, 100 on Linux), so CPU figures are 10 ms grains: measure
over seconds, not milliseconds. `/proc/PID/status` gives VmRSS (resident set now) and
VmHWM (its peak) in KiB. Each thread is a directory in `/proc/PID/task`.

A server may be several processes (nginx's master and worker): `sample(pid)` adds up
the process and all its descendants, found through the ppid field of each stat file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["ProcSample", "sample", "descendants", "cpu_seconds", "rss_kib", "thread_count"]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcSample:
    """One reading of a process tree. CPU is cumulative since each process started."""

    cpu_seconds: float
    rss_kib: int
    peak_rss_kib: int
    threads: int
    processes: int

    def cpu_since(self, earlier: ProcSample) -> float:
        return round(self.cpu_seconds - earlier.cpu_seconds, 3)


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read().decode("ascii", "replace")
    # Field 2 (comm) is in parentheses and may itself hold spaces or ')': split after
    # the last ')'. What follows starts at field 3 (state).
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (fields 14, 15 of /proc/PID/stat)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(key.encode() + b":"):
                return int(line.split()[1])  # "VmRSS:	   12345 kB"
    return 0  # a zombie or kernel thread has no Vm* lines


def rss_kib(pid: int) -> int:
    return _status_kib(pid, "VmRSS")


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def descendants(pid: int) -> list[int]:
    """Every live process under `pid`, children first found by their ppid (field 4)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(name))[1])
        except (OSError, ValueError, IndexError):
            continue  # the process exited while we looked
        children.setdefault(ppid, []).append(int(name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def sample(pid: int, include_children: bool = True) -> ProcSample:
    """Read CPU, RSS and threads of `pid` (and its descendants). Raises OSError if gone."""
    pids = [pid] + (descendants(pid) if include_children else [])
    cpu = 0.0
    rss = peak = threads = 0
    counted = 0
    for p in pids:
        try:
            cpu += cpu_seconds(p)
            rss += rss_kib(p)
            peak += _status_kib(p, "VmHWM")
            threads += thread_count(p)
            counted += 1
        except OSError:
            if p == pid:
                raise
    return ProcSample(round(cpu, 3), rss, peak, threads, counted)
