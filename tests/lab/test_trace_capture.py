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
from lab.trace.scenarios import SCENARIOS, Client, ScenarioUnavailable
from lab.trace.server import start_lab
from tests.skips import require

pytestmark = pytest.mark.root


def require_capture():
    require(can_capture(), "packet capture needs root or CAP_NET_RAW")


def run_or_xfail(name: str, io: str = "epoll"):
    try:
        return trace_scenario(name, io)
    except ScenarioUnavailable as exc:
        pytest.xfail(f"scenario {name} not available yet: {exc}")


def check_bytes_match(result):
    assert result.capture is not None, "capture did not run"
    by_port = {c.client[1]: c for c in result.connections}
    for exchange in result.exchanges:
        conn = by_port[exchange.client_port]
        assert conn.upstream.gaps == [] and conn.downstream.gaps == []
        assert conn.upstream.data == exchange.sent
        assert conn.downstream.data == exchange.received
        assert conn.upstream.syn_segment is not None and conn.downstream.syn_segment is not None
        assert conn.upstream.fin_offset is not None and conn.downstream.fin_offset is not None


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_bytes_from_the_capture_equal_what_the_client_sent_and_received(name, tmp_path):
    require_capture()
    result = run_or_xfail(name)
    check_bytes_match(result)
    named = {e.name for elements in result.trace.elements.values() for e in elements}
    assert set(SCENARIOS[name].expected) <= named
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


def test_bad_request_shows_the_400_and_the_close():
    require_capture()
    result = run_or_xfail("bad-request")
    check_bytes_match(result)
    (conn,) = result.connections
    assert conn.downstream.data.startswith(b"HTTP/1.1 400 ")
    malformed = [e for e in result.trace.elements[conn.number] if e.name == "malformed"]
    assert malformed and malformed[0].detail.startswith("400")


def test_pipelined_requests_leave_in_one_segment():
    require_capture()
    result = run_or_xfail("keepalive")
    check_bytes_match(result)
    carrying = [r for r in result.trace.records if any(e["name"] == "request line" for e in r["elements"])]
    assert len(carrying) == 1 and sum(e["name"] == "request line" for e in carrying[0]["elements"]) == 3


@pytest.mark.slow
@pytest.mark.parametrize("io", IO_MODELS)
def test_hello_trace_under_every_io_model(io):
    require_capture()
    check_bytes_match(run_or_xfail("hello", io))


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
