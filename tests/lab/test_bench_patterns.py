"""`lab bench` long-poll, sse-fanout and patterns: their math, their clients, a quick run each.

The unit tests run in milliseconds. Each scenario's `--quick` smoke run starts real
servers on 127.0.0.1 port 0 and the load processes (pinned to the load CPU, as in a real
run); those that take more than ~10 s are marked slow. The SSE and WebSocket parts need
the push endpoints (`GET /topics/{t}/events`, `/ws`) and their clients
(`lab.clients.push_bench`): they are skipped where those are absent.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.bench.harness import Bench
from lab.bench.pattern_load import leg_row
from lab.bench.report import format_table
from lab.bench.scenarios import (
    SCENARIOS, fanout_summary, patterns_summary, pool_workers, wakeup_row, wakeup_verdict,
)
from lab.bench.servers import RunningServer, child_env, lab_server
from lab.bench.sse_load import count_ids, payload
from lab.bench.sse_load import run as run_sse_load

ROOT = Path(__file__).resolve().parents[2]
HAS_PUSH = importlib.util.find_spec("lab.clients") is not None and importlib.util.find_spec(
    "lab.clients.push_bench") is not None
needs_push = pytest.mark.skipif(not HAS_PUSH, reason="the push endpoints and clients are not merged here")


# ------------------------------------------------------------------ the math


def test_events_are_counted_by_id_lines_across_any_split() -> None:
    stream = b"retry: 1000\n\n" + b"".join(b"id: %d\ndata: %s\n\n" % (i, payload(i, 20)) for i in range(1, 8))
    stream += b": heartbeat\n\n"  # a comment is not an event
    for step in (1, 2, 3, 5, len(stream)):
        carry, total = b"\n", 0
        for at in range(0, len(stream), step):
            n, carry = count_ids(carry, stream[at:at + step])
            total += n
        assert total == 7, step


def test_an_id_line_at_the_very_start_of_a_stream_counts() -> None:
    assert count_ids(b"\n", b"id: 1\ndata: x\n\n")[0] == 1


def test_payloads_have_their_size_and_index_and_no_line_break() -> None:
    assert payload(7, 64).startswith(b"m7 ") and len(payload(7, 64)) == 64
    assert payload(12345, 3) == b"m12" and b"\n" not in payload(1, 500)


def test_a_leg_row_is_read_per_message() -> None:
    row = leg_row("short", 20, 20, 40, 2000, 8000, [0.010] * 10 + [0.030] * 10)
    assert row["requests_per_msg"] == 2.0 and row["bytes_per_msg"] == 500.0
    assert row["sent_per_msg"] == 100.0 and row["received_per_msg"] == 400.0
    assert row["p50_ms"] == 10.0 and row["p99_ms"] == 30.0


def test_a_leg_that_delivered_nothing_divides_by_one_not_zero() -> None:
    row = leg_row("long", 20, 0, 1, 100, 0, [])
    assert row["requests_per_msg"] == 1.0 and row["p50_ms"] is None


def test_a_wakeup_in_seconds_becomes_milliseconds_and_cpu_per_poll() -> None:
    result = {"clients": 100, "held": 100, "answered": 100, "first": 0.001, "median": 0.0105, "last": 0.02}
    row = wakeup_row("epoll", result, cpu_s=0.05, timeout=30)
    assert (row["first_ms"], row["median_ms"], row["last_ms"]) == (1.0, 10.5, 20.0)
    assert row["cpu_us_per_poll"] == 500.0 and row["result"] == "all answered"


def test_models_that_cannot_hold_the_waiters_say_why_in_a_sentence() -> None:
    unknown = {"clients": 100, "held": -1, "answered": 0, "first": None, "median": None, "last": None}
    row = wakeup_row("pool", unknown, cpu_s=0.0, timeout=3)
    assert row["held"] is None and row["last_ms"] is None
    assert f"{pool_workers()} workers" in row["result"] and "0 of 100 answered in 3 s" in row["result"]
    assert "one connection at a time" in wakeup_verdict("blocking", 100, 1, 0, 3)


def test_the_fanout_target_is_read_on_uvloop_at_one_thousand() -> None:
    rows = [{"server": "uvloop", "subscribers": 100, "events_per_s": 900_000.0, "cpu_us_per_event": 1.0},
            {"server": "uvloop", "subscribers": 1000, "events_per_s": 150_000.0, "cpu_us_per_event": 4.0},
            {"server": "epoll", "subscribers": 1000, "events_per_s": 500_000.0}]
    lines = fanout_summary(rows)
    assert lines[0] == "target uvloop >= 200,000 events/s to 1,000 SSE subscribers: 150,000 (NOT met)"
    assert lines[1].startswith("target uvloop <= 5 us of server CPU per event: 4.00 us (met)")
    assert fanout_summary([r for r in rows if r["server"] == "epoll"]) == []


def test_patterns_summary_compares_short_polling_with_sse() -> None:
    rows = [{"server": "epoll", "pattern": "short", "requests_per_msg": 2.0, "bytes_per_msg": 500.0, "p50_ms": 25.0},
            {"server": "epoll", "pattern": "sse", "requests_per_msg": 0.05, "bytes_per_msg": 100.0, "p50_ms": 0.5}]
    [line] = patterns_summary(rows)
    assert "2.00 requests and 500 bytes per message" in line and "5.0x the bytes" in line


def test_patterns_runs_its_own_default_models_unless_io_is_given() -> None:
    every = ["blocking", "threads", "pool", "epoll", "asyncio", "uvloop"]
    assert Bench(ios=every, ios_given=False).models(["epoll", "uvloop"]) == ["epoll", "uvloop"]
    assert Bench(ios=["pool"], ios_given=True).models(["epoll", "uvloop"]) == ["pool"]


def test_a_row_that_failed_shows_its_sentence_once() -> None:
    table = format_table(SCENARIOS["long-poll"], [{"server": "epoll", "clients": 100, "error": "it broke"}])
    assert table.count("it broke") == 1


def test_new_scenarios_are_registered_with_charts() -> None:
    for name in ("long-poll", "sse-fanout", "patterns"):
        assert SCENARIOS[name].charts, name


# ------------------------------------------------------------------ the SSE load, in process


@needs_push
def test_sse_load_delivers_every_event_and_parses_a_sample() -> None:
    with RunningServer(lab_server("epoll", "lab")) as server:
        row = asyncio.run(run_sse_load(server.host, server.port, subscribers=20, messages=30, burst=7,
                                       parse=5, setup_timeout=10, timeout=20, steps=False))
    assert row["subscribed"] == 20 and row["complete"] and "error" not in row, row
    assert row["delivered"] == 600 and row["events_per_s"] > 0
    assert row["first_done_ms"] <= row["median_done_ms"] <= row["last_done_ms"]


def test_sse_load_says_how_many_subscribed_when_the_endpoint_is_missing() -> None:
    with RunningServer(lab_server("epoll", "hello")) as server:  # hello answers 200 text, not a stream
        row = asyncio.run(run_sse_load(server.host, server.port, subscribers=5, messages=3,
                                       setup_timeout=5, timeout=5, steps=False))
    assert row["subscribed"] < 5 and "of 5 subscribed" in row["error"]


# ------------------------------------------------------------------ quick runs


def quick_run(tmp_path: Path, scenario: str, io: str, timeout: float = 150) -> tuple[list[dict], str]:
    out = subprocess.run(
        [sys.executable, "-m", "lab.bench", "--quick", "--scenario", scenario, "--io", io, "--no-peers",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=child_env(),
    )
    assert out.returncode == 0, out.stderr
    document = json.loads((tmp_path / "bench.json").read_text())
    for chart in SCENARIOS[scenario].charts:
        ET.parse(tmp_path / f"{scenario}-{chart.name}.svg")
    return document["scenarios"][scenario]["rows"], out.stderr


def test_quick_long_poll_run_against_epoll(tmp_path: Path) -> None:
    [row], stderr = quick_run(tmp_path, "long-poll", "epoll")
    assert "error" not in row, row
    assert row["clients"] == 100 and row["held"] == 100 and row["answered"] == 100
    assert 0 < row["first_ms"] <= row["median_ms"] <= row["last_ms"] < 5000
    assert row["result"] == "all answered" and "long-poll" in stderr


@pytest.mark.slow
@needs_push
def test_quick_sse_fanout_run_against_uvloop(tmp_path: Path) -> None:
    rows, stderr = quick_run(tmp_path, "sse-fanout", "uvloop")
    assert [r["subscribers"] for r in rows] == [100, 1000]
    for row in rows:
        assert row.get("complete") and row["delivered"] == row["subscribers"] * 100, row
        assert row["events_per_s"] > 0 and row["cpu_us_per_event"] is not None
    assert "target uvloop >= 200,000 events/s" in stderr


@pytest.mark.slow
@needs_push
def test_quick_patterns_run_against_epoll(tmp_path: Path) -> None:
    rows, stderr = quick_run(tmp_path, "patterns", "epoll")
    by = {r["pattern"]: r for r in rows}
    assert list(by) == ["short", "long", "sse", "ws"]
    for row in rows:
        assert "error" not in row and row["delivered"] == 20, row
    # what the table is for: polling costs a request per message (or more), push one per stream
    assert by["short"]["requests_per_msg"] >= 1 and by["long"]["requests_per_msg"] >= 0.9
    assert by["sse"]["requests_per_msg"] < 0.1 and by["ws"]["requests_per_msg"] < 0.1
    assert by["short"]["bytes_per_msg"] > 2 * by["sse"]["bytes_per_msg"]
    assert "short polling took" in stderr
