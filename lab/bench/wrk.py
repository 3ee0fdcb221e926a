"""Drive `wrk` (https://github.com/wg/wrk) and read its report.

wrk is a C load generator on epoll: on one core it reaches ~200k req/s here (nginx's
figure in FACTS.md is wrk's own ceiling), several times what a Python client can send,
so plain-HTTP throughput is measured with it when it is installed (`apt-get install wrk`).
Without it the harness says so and falls back to `lab.bench.loadgen`.

`wrk --latency` prints its latency distribution; times come with units (`us`, `ms`,
`s`, `m`, `h`) and rates with SI suffixes (`k`, `M`, `G`), which `parse_output` turns
into milliseconds and plain numbers. Lines that appear only when something went wrong
(`Socket errors: ...`, `Non-2xx or 3xx responses: N`) become error counts. wrk leaves
timed-out requests out of its latency figures: read them together with `timeout`.
"""

from __future__ import annotations

import re
import shutil
import subprocess

__all__ = ["find_wrk", "wrk_version", "build_command", "parse_output", "WrkError"]

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_SI = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


class WrkError(Exception):
    """wrk could not run or printed something this parser does not understand."""


def find_wrk() -> str | None:
    return shutil.which("wrk")


def wrk_version(path: str | None = None) -> str | None:
    path = path or find_wrk()
    if path is None:
        return None
    # `wrk -v` prints "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer" and exits 1.
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=5)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else None


def build_command(url: str, connections: int, duration: float, timeout: float = 2.0,
                  threads: int = 1, wrk: str = "wrk") -> list[str]:
    """One wrk thread by default: the load generator gets one core, the server the other."""
    threads = max(1, min(threads, connections))  # wrk refuses fewer connections than threads
    return [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            f"--timeout={max(1, round(timeout))}s", "--latency", url]


def _time_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise WrkError(f"not a wrk duration: {text!r}")
    return round(float(match.group(1)) * _TIME_UNITS_MS[match.group(2)], 3)


def _si(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)([kKMG]?)", text)
    if match is None:
        raise WrkError(f"not a wrk number: {text!r}")
    return float(match.group(1)) * _SI[match.group(2)]


def parse_output(text: str) -> dict:
    """wrk's report as figures: rps, requests, duration_s, latency (ms), errors."""
    result: dict = {"tool": "wrk", "errors": {}, "latency": {}}
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+), ", text, re.M)
    if rps is None or total is None:
        raise WrkError("wrk printed no result:\n" + text.strip()[-500:])
    result["rps"] = round(float(rps.group(1)), 1)
    result["requests"] = int(total.group(1))
    result["duration_s"] = round(_time_ms(total.group(2)) / 1000, 3)
    header = re.search(r"^\s*(\d+) threads and (\d+) connections", text, re.M)
    if header:
        result["threads"], result["connections"] = int(header.group(1)), int(header.group(2))
    stats = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+", text, re.M)
    if stats:
        result["latency"]["mean_ms"] = _time_ms(stats.group(1))
        result["latency"]["max_ms"] = _time_ms(stats.group(3))
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", text, re.M):
        result["latency"][f"p{pct}_ms"] = _time_ms(value)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sockets:
        for kind, count in zip(("connect", "read", "write", "timeout"), sockets.groups()):
            if int(count):
                result["errors"][kind] = int(count)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        result["errors"]["non-2xx"] = int(non2xx.group(1))
    return result
