"""Live captures (root or CAP_NET_RAW): what the wire carried is what the client saw.

Every test here starts its own lab on 127.0.0.1 port 0 and stops it by PID; captures
and clients are bounded in time.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
from scapy.utils import rdpcap

from lab.trace.capture import LoopbackSniffer, can_capture
from lab.trace.cli import IO_MODELS, trace_scenario
from lab.trace.reassembly import segments_from_packets, split_connections
from lab.trace.scenarios import CHUNKS, JOB_SECONDS, SCENARIOS, SSE_MESSAGES, Client
from lab.trace.server import start_lab
from tests.skips import require

pytestmark = pytest.mark.root


def require_capture():
    require(can_capture(), "packet capture needs root or CAP_NET_RAW")


def check_bytes_match(result):
    assert result.capture is not None, "capture did not run"
    by_port = {c.client[1]: c for c in result.connections}
    assert len(by_port) == len(result.exchanges)  # no connection the client did not open
    for exchange in result.exchanges:
        conn = by_port[exchange.client_port]
        assert conn.upstream.gaps == [] and conn.downstream.gaps == []
        assert conn.upstream.data == exchange.sent
        assert conn.downstream.data == exchange.received
        assert conn.upstream.syn_segment is not None and conn.downstream.syn_segment is not None
        assert conn.upstream.fin_offset is not None and conn.downstream.fin_offset is not None


def elements(result, direction=None, name=None):
    """Every element of the trace, in connection order, filtered by direction and name."""
    return [e for number in sorted(result.trace.elements) for e in result.trace.elements[number]
            if direction in (None, e.direction) and name in (None, e.name)]


def details(result, direction, name):
    return [e.detail for e in elements(result, direction, name)]


# What each scenario must show beyond its `expected` names, by direction.
def check_hello(result):
    assert details(result, ">", "request line") == ["GET / HTTP/1.1"]
    assert details(result, "<", "status line") == ["HTTP/1.1 200 OK"]


def check_keepalive(result):
    assert len(details(result, ">", "request line")) == 3 == len(details(result, "<", "status line"))


def check_chunked(result):
    # Both ways chunked: the upload's chunks (3 and a trailer) and the download's.
    for direction in (">", "<"):
        names = [e.name for e in elements(result, direction)]
        for name in ("chunk-size line", "chunk data", "last chunk"):
            assert name in names, (direction, name)
    assert len(details(result, ">", "chunk data")) == len(CHUNKS)
    assert details(result, ">", "trailer field line") == ["X-Checksum"]
    assert [d.split()[1] for d in details(result, "<", "status line")] == ["201", "200"]


def check_upload(result):
    first, second = (result.trace.elements[n] for n in sorted(result.trace.elements))
    # The first connection's PATCH body broke off halfway; the lab answered 400.
    assert any(e.name == "body" and "capture ends inside it" in e.detail for e in first if e.direction == ">")
    assert any(e.name == "incomplete message" for e in first if e.direction == ">")
    methods = [e.detail.split()[0] for e in second if e.name == "request line"]
    assert methods == ["HEAD", "PATCH", "GET"]
    statuses = [e.detail.split()[1] for e in second if e.name == "status line"]
    assert statuses == ["200", "204", "200"]


def check_shortpoll(result):
    targets = [d.split()[1] for d in details(result, ">", "request line")]
    # POST, then GETs of one handle until "done" (the scenario checks the state): on a
    # loaded machine the first GET may already find the job done, so >= 2 requests.
    assert targets[0] == "/jobs" and len(targets) >= 2
    assert len(set(targets[1:])) == 1 and targets[1].startswith("/jobs/")
    assert details(result, "<", "status line")[0] == "HTTP/1.1 202 Accepted"


def check_longpoll(result):
    targets = [d.split()[1] for d in details(result, ">", "request line")]
    assert len(targets) == 2 and targets[1].endswith("?wait=5")
    # One GET sufficed: the lab held its answer until the job was done, at least
    # JOB_SECONDS after the POST that started it (timed from the POST, not the GET:
    # a loaded machine may delay the client's GET, never the job's end).
    (conn,) = result.connections
    posted = next(s for s in conn.segments if s.src == conn.client and s.payload.startswith(b"POST"))
    polled = next(s for s in conn.segments if s.src == conn.client and b"?wait=5" in s.payload)
    answered = next(s for s in conn.segments if s.src != conn.client and s.time > polled.time and s.payload)
    assert answered.time - posted.time >= JOB_SECONDS * 0.9


def check_sse(result):
    events = details(result, "<", "SSE event")
    ids = [d.split("id=")[1].split()[0] for d in events]
    assert ids == ["'1'", "'2'"]
    assert [d.split("data=")[1] for d in events] == [repr(m.decode()) for m in SSE_MESSAGES]


def check_websocket(result):
    frames = {d: details(result, d, "WebSocket frame") for d in (">", "<")}
    # RFC 6455 5.1: a client masks every frame it sends, a server none.
    assert frames[">"] and all("MASK=1" in d for d in frames[">"])
    assert frames["<"] and all("MASK=0" in d for d in frames["<"])
    for direction in (">", "<"):
        opcodes = [d.split("(")[1].split(")")[0] for d in frames[direction]]
        assert opcodes == ["text", "close"], (direction, opcodes)
    assert "code=1000" in frames["<"][-1]
    assert details(result, "<", "status line") == ["HTTP/1.1 101 Switching Protocols"]
    assert "malformed" not in {e.name for e in elements(result)}


def check_bad_request(result):
    (conn,) = result.connections
    assert conn.downstream.data.startswith(b"HTTP/1.1 400 ")
    malformed = [e for e in result.trace.elements[conn.number] if e.name == "malformed"]
    assert malformed and malformed[0].detail.startswith("400")


CHECKS = {
    "hello": check_hello, "keepalive": check_keepalive, "chunked": check_chunked,
    "upload": check_upload, "shortpoll": check_shortpoll, "longpoll": check_longpoll,
    "sse": check_sse, "websocket": check_websocket, "bad-request": check_bad_request,
}


def test_every_scenario_has_its_checks():
    assert set(CHECKS) == set(SCENARIOS)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_bytes_from_the_capture_equal_what_the_client_sent_and_received(name, tmp_path):
    require_capture()
    result = trace_scenario(name)
    check_bytes_match(result)
    named = {e.name for e in elements(result)}
    assert set(SCENARIOS[name].expected) <= named
    CHECKS[name](result)
    # The pcap reads back with scapy and gives the same streams.
    path = tmp_path / f"{name}.pcap"
    result.capture.write_pcap(str(path))
    packets = rdpcap(str(path))
    assert len(packets) == len(result.capture.frames)
    again = {c.client[1]: c for c in split_connections(segments_from_packets(packets), result.port)}
    for conn in result.connections:
        assert again[conn.client[1]].upstream.data == conn.upstream.data
        assert again[conn.client[1]].downstream.data == conn.downstream.data
    if shutil.which("tshark"):  # optional tool: checked when present, never a skip
        out = subprocess.run(["tshark", "-r", str(path)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.count("\n") == len(packets)


def test_pipelined_requests_leave_in_one_segment():
    require_capture()
    result = trace_scenario("keepalive")
    check_bytes_match(result)
    carrying = [r for r in result.trace.records if any(e["name"] == "request line" for e in r["elements"])]
    assert len(carrying) == 1 and sum(e["name"] == "request line" for e in carrying[0]["elements"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize("io", IO_MODELS)
def test_hello_trace_under_every_io_model(io):
    require_capture()
    result = trace_scenario("hello", io)
    check_bytes_match(result)
    check_hello(result)


def test_frames_larger_than_65535_bytes_are_captured_whole():
    """lo's MTU is 65,536: a full frame is 65,550 bytes with its Ethernet header."""
    require_capture()
    body = os.urandom(1 << 20)
    with start_lab("echo", "epoll") as server:
        sniffer = LoopbackSniffer(server.port)
        sniffer.start()
        try:
            client = Client(server.address, time.monotonic() + 30)
            client.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                        % len(body) + body)
            client.read_response("POST")
            exchange = client.finish()
        finally:
            sniffer.drain()
            capture = sniffer.stop()
    (conn,) = split_connections(segments_from_packets(capture.packets()), server.port)
    assert conn.upstream.data == exchange.sent
    assert conn.downstream.data == exchange.received
    assert conn.upstream.gaps == [] and conn.downstream.gaps == []
    # No frame was cut: each holds the whole IP packet its header announces. (Loopback
    # frames reach 65,549 bytes; scapy's default 65,535-byte snap length cut them.)
    for _, frame in capture.frames:
        assert len(frame) >= 14 + int.from_bytes(frame[16:18], "big")
