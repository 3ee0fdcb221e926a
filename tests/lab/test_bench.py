"""`lab bench`: the load generator, the wrk parser, /proc readings, reports, servers.

Everything here runs on 127.0.0.1 port 0 within seconds; the one real benchmark run is
marked slow. Only processes these tests start are stopped, by their PID.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab.bench import procstats, wrk
from lab.bench.cli import _names
from lab.bench.loadgen import ResponseError, ResponseReader, latency_summary, percentile, run_load
from lab.bench.report import format_table, svg_chart, write_outputs
from lab.bench.scenarios import (
    SCENARIOS, Chart, Column, add_ratios, hello_summary, idle_summary, ideal_rps, scenario, work_plan,
)
from lab.bench.servers import RunningServer, ServerSpec, ServerStartError, child_env, get

ROOT = Path(__file__).resolve().parents[2]
HELLO = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"


# ------------------------------------------------------------------ a trivial server


class CountingServer:
    """A thread-per-connection keep-alive server that counts the requests it answers."""

    def __init__(self) -> None:
        self.answered = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = bytearray()
                while True:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        data = self.request.recv(65536)
                        if not data:
                            return
                        buf += data
                        continue
                    del buf[: end + 4]
                    with outer.lock:
                        outer.answered += 1
                    self.request.sendall(HELLO)

        socketserver.ThreadingTCPServer.daemon_threads = True
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------ percentiles


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 75) == 3
    assert percentile([1, 2, 3, 4], 76) == 4
    hundred = list(range(1, 101))
    assert percentile(hundred, 99) == 99
    assert percentile(hundred, 99.5) == 100
    assert percentile(hundred, 100) == 100
    assert percentile(hundred, 0) == 1
    assert percentile([7.5], 99) == 7.5


def test_percentile_refuses_no_values_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_latency_summary_is_in_milliseconds_and_sorts_its_input() -> None:
    seconds = [0.004, 0.001, 0.003, 0.002] * 25  # 100 values, unsorted
    summary = latency_summary(seconds)
    assert summary["p50_ms"] == 2.0
    assert summary["p99_ms"] == 4.0
    assert summary["max_ms"] == 4.0
    assert summary["mean_ms"] == 2.5
    assert latency_summary([])["p99_ms"] is None


# ------------------------------------------------------------------ response reader


def test_response_reader_reads_whole_bytewise_and_pipelined() -> None:
    assert [r.status for r in ResponseReader().feed(HELLO)] == [200]
    reader = ResponseReader()
    got = []
    for i in range(len(HELLO)):
        got += reader.feed(HELLO[i : i + 1])
    assert len(got) == 1 and got[0].body == b"Hello, World!" and got[0].keep_alive
    two = ResponseReader().feed(HELLO + HELLO.replace(b"200 OK", b"404 Not Found"))
    assert [r.status for r in two] == [200, 404]


def test_response_reader_skips_interim_1xx_and_sees_connection_close() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + HELLO.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    [response] = ResponseReader().feed(data)
    assert response.status == 200 and not response.keep_alive


@pytest.mark.parametrize("bad", [
    b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
    b"SSH-2.0-OpenSSH\r\n\r\n",
])
def test_response_reader_rejects_malformed_responses(bad: bytes) -> None:
    with pytest.raises(ResponseError):
        ResponseReader().feed(bad)


# ------------------------------------------------------------------ loadgen


def test_loadgen_counts_the_requests_the_server_answered() -> None:
    with CountingServer() as server:
        result = asyncio.run(run_load("127.0.0.1", server.port, "/", connections=4, duration=0.6, warmup=0.0))
        time.sleep(0.1)
        answered = server.answered
    assert result.requests > 50
    assert result.statuses == {"200": result.requests}
    assert result.errors == {} and result.stalled == 0
    # Every counted response was answered; at most one per connection was still in
    # flight when the clock stopped (answered, but not counted).
    assert answered - 4 <= result.requests <= answered
    assert result.latency["p50_ms"] <= result.latency["p99_ms"] <= result.latency["max_ms"]
    assert result.rps == pytest.approx(result.requests / result.duration_s, rel=0.01)


def test_loadgen_reports_connections_that_never_connect() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed, not listening: connections are refused
    result = asyncio.run(run_load("127.0.0.1", port, "/", connections=2, duration=0.3, warmup=0.0))
    assert result.requests == 0 and result.errors.get("connect failed", 0) > 0 and result.stalled == 2


def _loadgen(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lab.bench.loadgen", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())


def test_loadgen_process_holds_served_idle_connections_and_probes() -> None:
    with CountingServer() as server:
        holder = _loadgen("hold", "--port", str(server.port), "--count", "20", "--timeout", "5")
        try:
            ready = json.loads(holder.stdout.readline())
            assert ready["event"] == "ready"
            assert (ready["open"], ready["served"], ready["failed"]) == (20, 20, 0)
            probe = _loadgen("probe", "--port", str(server.port), "--requests", "5")
            out, _ = probe.communicate(timeout=20)
            result = json.loads(out)
            assert result["served"] == 5 and result["error"] is None and result["first_ms"] > 0
        finally:
            holder.terminate()  # our own child, by its PID
            holder.wait(timeout=10)
        assert server.answered == 25


# ------------------------------------------------------------------ wrk's report

WRK_OK = """\
Running 2s test @ http://127.0.0.1:39079/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.34ms    1.38ms  25.08ms   92.96%
    Req/Sec    51.12k    12.65k   76.84k    70.00%
  Latency Distribution
     50%    1.00ms
     75%    1.38ms
     90%    2.22ms
     99%    7.75ms
  101678 requests in 2.00s, 7.56MB read
Requests/sec:  50721.83
Transfer/sec:      3.77MB
"""

WRK_ERRORS = """\
Running 5s test @ http://127.0.0.1:41445/work?ms=20
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   630.00us  182.32us    1.99s    98.50%
    Req/Sec     1.54M     8.50k    1.93M    80.65%
  Latency Distribution
     50%  630.00us
     75%   42.00ms
     90%    1.10s
     99%    1.99s
  2561 requests in 5.10s, 4.94MB read
  Socket errors: connect 0, read 3, write 0, timeout 63
  Non-2xx or 3xx responses: 12
Requests/sec:    502.16
Transfer/sec:      1.59MB
"""


def test_wrk_report_is_parsed_into_figures() -> None:
    result = wrk.parse_output(WRK_OK)
    assert result["rps"] == 50721.8
    assert result["requests"] == 101678 and result["duration_s"] == 2.0
    assert result["connections"] == 64 and result["threads"] == 1
    assert result["latency"] == {"mean_ms": 1.34, "max_ms": 25.08, "p50_ms": 1.0, "p75_ms": 1.38,
                                 "p90_ms": 2.22, "p99_ms": 7.75}
    assert result["errors"] == {}


def test_wrk_units_and_error_lines() -> None:
    result = wrk.parse_output(WRK_ERRORS)
    assert result["latency"]["p50_ms"] == 0.63
    assert result["latency"]["p90_ms"] == 1100.0
    assert result["latency"]["max_ms"] == 1990.0
    assert result["duration_s"] == 5.1
    assert result["errors"] == {"read": 3, "timeout": 63, "non-2xx": 12}


def test_wrk_failure_is_an_error_not_a_zero() -> None:
    with pytest.raises(wrk.WrkError):
        wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_command_keeps_threads_at_most_connections() -> None:
    assert wrk.build_command("http://h/", 1, 3, threads=4)[:4] == ["wrk", "-t1", "-c1", "-d3s"]


# ------------------------------------------------------------------ /proc


def test_procstats_reads_this_process() -> None:
    before = procstats.sample(os.getpid(), include_children=False)
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:  # burn 50 ms of CPU: more than a clock tick
        pass
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        after = procstats.sample(os.getpid(), include_children=False)
    finally:
        stop.set()
        thread.join()
    assert after.cpu_since(before) >= 0.03
    assert after.threads == before.threads + 1
    assert after.rss_kib > 1000 and after.peak_rss_kib >= after.rss_kib


def test_procstats_adds_up_child_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.2)
        assert child.pid in procstats.descendants(os.getpid())
        both = procstats.sample(os.getpid())
        alone = procstats.sample(os.getpid(), include_children=False)
        assert both.processes >= 2 and both.rss_kib > alone.rss_kib
    finally:
        child.kill()  # our own child, by PID
        child.wait()


# ------------------------------------------------------------------ servers


def test_a_server_that_dies_gives_a_sentence_not_a_traceback() -> None:
    spec = ServerSpec("dies", "lab", [sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"])
    with pytest.raises(ServerStartError, match="exited with code 3.*boom"):
        RunningServer(spec)


def test_a_server_that_cannot_run_says_so() -> None:
    with pytest.raises(ServerStartError, match="cannot run /nonexistent/server"):
        RunningServer(ServerSpec("missing", "peer", ["/nonexistent/server"]))


def test_a_server_that_prints_something_else_is_refused_and_stopped() -> None:
    spec = ServerSpec("chatty", "lab", [sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(30)"])
    with pytest.raises(ServerStartError, match="expected 'listening on"):
        RunningServer(spec)


@pytest.mark.parametrize("name", ["stdlib-threading-nodelay", "naive-selectors", "naive-streams-asyncio",
                                  "naive-streams-uvloop", "callbacks-asyncio", "callbacks-uvloop"])
def test_python_peer_starts_serves_and_stops(name: str) -> None:
    spec = ServerSpec(name, "peer", [sys.executable, "-m", "lab.bench.peer_apps", name])
    with RunningServer(spec) as server:
        assert get(server.host, server.port, "/") == 200
    assert server.exit_code == 0


@pytest.mark.parametrize("name", ["callbacks-asyncio", "callbacks-uvloop"])
def test_callbacks_peer_answers_as_the_lab_does_and_closes_when_asked(name: str) -> None:
    spec = ServerSpec(name, "peer", [sys.executable, "-m", "lab.bench.peer_apps", name])
    with RunningServer(spec) as server, socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # the server closes after the second answer
            received += chunk
    answers = received.split(b"HTTP/1.1 200 OK\r\n")
    assert len(answers) == 3 and all(a.endswith(b"\r\n\r\nHello, World!") for a in answers[1:])
    assert b"Connection: close" in answers[2]


def test_a_naive_server_answers_each_pipelined_head_and_keeps_the_rest() -> None:
    from lab.bench.peer_apps import NAIVE_ANSWER, _answers

    out, left = _answers(b"GET / HTTP/1.1\r\n", b"Host: x\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3")
    assert out == NAIVE_ANSWER * 2 and left == b"GET /3"
    assert _answers(left, b" HTTP/1.1\r\n") == (b"", b"GET /3 HTTP/1.1\r\n")


# ------------------------------------------------------------------ report, registry, CLI

ROWS = [
    {"server": "epoll", "kind": "lab", "concurrency": 64, "rps": 40000.0, "p50_ms": 1.5, "p99_ms": 3.0,
     "error_count": 0, "cpu_s": 4.9, "cpu_us_per_req": 24.5, "rss_kib": 20000, "threads": 1, "tool": "wrk",
     "ratio": 2.0},
    {"server": "uvicorn-httptools", "kind": "peer", "concurrency": 64, "rps": 20000.0, "tool": "wrk", "ratio": 1.0},
    {"server": "aiohttp", "kind": "peer", "concurrency": 64, "error": "not installed (aiohttp): make bench-peers"},
]


def test_report_writes_valid_json_svg_and_markdown(tmp_path: Path) -> None:
    document = {"command": "lab bench --quick", "started": "2026-01-01T00:00:00+00:00",
                "machine": {"cpu_model": "Test CPU", "cpus_online": 2, "python": "3.11"},
                "notes": ["a note"], "scenarios": {"hello": {"title": "hello", "rows": ROWS, "summary": ["x"]}}}
    written = write_outputs(str(tmp_path), str(tmp_path / "out.json"), document, SCENARIOS)
    assert json.loads((tmp_path / "out.json").read_text())["scenarios"]["hello"]["rows"][0]["rps"] == 40000.0
    svg = ET.parse(tmp_path / "hello-rps.svg").getroot()
    assert svg.tag.endswith("svg")
    bars = [el for el in svg.iter() if el.tag.endswith("rect") and el.get("fill", "").startswith("#")
            and el.find("{http://www.w3.org/2000/svg}title") is not None]
    assert len(bars) == 2  # the failed aiohttp row draws no bar
    assert "| epoll | 64 | 40,000 | 2.00x |" in (tmp_path / "summary.md").read_text()
    assert str(tmp_path / "hello-rps.svg") in written


def test_table_shows_a_failed_row_as_its_sentence() -> None:
    table = format_table(SCENARIOS["hello"], ROWS)
    assert "failed: not installed (aiohttp): make bench-peers" in table
    assert "40,000" in table


def test_svg_of_no_figures_says_so() -> None:
    chart = Chart("x", "t", "rps", "req/s", "concurrency", "server")
    root = ET.fromstring(svg_chart(chart, [ROWS[2]]))
    assert any("no figures" in (el.text or "") for el in root.iter())


def test_a_scenario_is_one_registered_generator_and_keeps_rows_when_interrupted() -> None:
    def finish(rows: list[dict]) -> None:
        rows.append({"server": "finished"})

    @scenario("test-only", "a test scenario", columns=[Column("server", "server")], finish=finish)
    def test_only(bench):
        yield {"server": "x"}
        raise KeyboardInterrupt

    rows: list[dict] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            SCENARIOS["test-only"].collect(None, rows)
    finally:
        del SCENARIOS["test-only"]
    # what was measured before the Ctrl-C is kept, and finished
    assert rows == [{"server": "x"}, {"server": "finished"}]


def test_ratios_are_to_uvicorn_httptools_at_the_same_concurrency() -> None:
    rows = [{"server": "epoll", "concurrency": 1, "rps": 300.0},
            {"server": "epoll", "concurrency": 64, "rps": 9000.0},
            {"server": "uvicorn-httptools", "concurrency": 64, "rps": 3000.0},
            {"server": "nginx", "concurrency": 64, "error": "did not start"}]
    add_ratios(rows)
    assert rows[1]["ratio"] == 3.0 and rows[1]["ratio_to"] == "uvicorn-httptools"
    assert rows[0]["ratio"] == 1.0 and rows[0]["ratio_to"] == "epoll"  # no baseline at c=1: the first
    assert "ratio" not in rows[3]
    assert hello_summary(rows) == ["target epoll >= 2x uvicorn-httptools at c=64: 3.00x (met)"]


def test_ratios_of_rows_measured_in_rounds_are_paired_round_by_round() -> None:
    # The machine was fast in round 1 for both and slow in round 3 for uvicorn only:
    # round by round epoll is 2.0x, 1.0x and 4.4x; the median rounds alone would say 2.2x.
    rows = [{"server": "epoll", "concurrency": 64, "rps": 220.0, "rps_rounds": [400.0, 100.0, 220.0]},
            {"server": "uvicorn-httptools", "concurrency": 64, "rps": 100.0, "rps_rounds": [200.0, 100.0, 50.0]}]
    add_ratios(rows)
    assert rows[0]["ratio"] == 2.0
    assert hello_summary(rows) == ["target epoll >= 2x uvicorn-httptools at c=64: 2.00x (met)"]
    rows[0]["rps_rounds"] = [400.0, 100.0]  # a round missing: the rows themselves are compared
    add_ratios(rows)
    assert rows[0]["ratio"] == 2.2


def test_hello_measures_every_server_at_one_concurrency_before_the_next_and_rotates() -> None:
    from contextlib import contextmanager
    from types import SimpleNamespace

    from lab.bench.scenarios import HELLO_ROUNDS, hello

    loads: list[tuple[str, int]] = []

    @contextmanager
    def start(spec):
        yield spec.name

    def load(server, path, connections, seconds, warmup):
        loads.append((server, connections))
        return {"rps": 1000.0 + len(loads)}

    bench = SimpleNamespace(quick=False, ios=["epoll", "asyncio", "uvloop"], peers=False, serve_cmd=None,
                            seconds=lambda full, quick: full, progress=SimpleNamespace(set=lambda *a: None),
                            start=start, load=load)
    rows = list(hello(bench))
    assert len(rows) == 3 * 4 and all(len(r["rps_rounds"]) == HELLO_ROUNDS for r in rows)
    first_round = loads[:12]
    assert [c for _, c in first_round] == [1] * 3 + [16] * 3 + [64] * 3 + [256] * 3
    assert [name for name, _ in first_round[:3]] == ["epoll", "asyncio", "uvloop"]
    assert [name for name, _ in loads[12:15]] == ["asyncio", "uvloop", "epoll"]  # round 2 starts further down


def test_idle_targets_are_read_at_ten_thousand_connections() -> None:
    rows = [{"server": "epoll", "connections": 10000, "rss_per_conn_kib": 2.5},
            {"server": "uvloop", "connections": 1000, "rss_per_conn_kib": 1.0}]
    assert idle_summary(rows) == ["target epoll <= 2 KiB per idle connection at 10,000: 2.50 KiB (NOT met)"]


def test_blocking_work_plan_and_its_ideal() -> None:
    from types import SimpleNamespace

    plan = work_plan(SimpleNamespace(ios=["blocking", "pool", "asyncio"]))
    assert plan == [("blocking", "inline", None), ("pool", "inline", 4), ("pool", "inline", 16),
                    ("pool", "inline", 64), ("asyncio", "inline", None), ("asyncio", "offload", None)]
    assert ideal_rps("pool", "inline", 16, 64, 20) == 800
    assert ideal_rps("threads", "inline", None, 64, 20) == 3200
    assert ideal_rps("epoll", "inline", None, 64, 20) == 50


def test_cli_lists_take_commas_and_repeats_and_refuse_unknown_names() -> None:
    assert _names(["epoll,uvloop", "pool", "epoll"], ["epoll", "uvloop", "pool"], "I/O model") == ["epoll", "uvloop", "pool"]
    assert _names(None, ["a"], "x") is None
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="unknown I/O model: nope"):
        _names(["nope"], ["epoll"], "I/O model")


# ------------------------------------------------------------------ a real run


@pytest.mark.slow
def test_quick_hello_run_against_epoll(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lab.bench", "--quick", "--scenario", "hello", "--io", "epoll", "--no-peers",
         "--duration", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=90, cwd=ROOT, env=child_env(),
    )
    assert out.returncode == 0, out.stderr
    document = json.loads((tmp_path / "bench.json").read_text())
    [row] = document["scenarios"]["hello"]["rows"]
    assert "error" not in row, row
    assert row["server"] == "epoll" and row["concurrency"] == 64 and row["rps"] > 100
    assert row["cpu_s"] > 0 and row["rss_kib"] > 0 and row["threads"] >= 1
    assert document["machine"]["kernel"] and document["machine"]["packages"]["uvloop"]
    ET.parse(tmp_path / "hello-rps.svg")
    assert "epoll" in out.stderr  # the table
