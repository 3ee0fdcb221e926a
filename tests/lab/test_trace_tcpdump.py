"""`lab inspect` of a capture nobody made for it: `tcpdump -i lo -w` of SSE and WebSocket.

The lab runs on 127.0.0.1 port 0; tcpdump captures that port on `lo` while the `sse`
and `websocket` scenario clients talk to it; `lab inspect --json` must then name what
crossed the wire. Both processes are ours and are stopped by PID.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.trace.cli import inspect_file
from lab.trace.scenarios import SSE_MESSAGES, sse, websocket
from lab.trace.server import start_lab
from tests.skips import require

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
READY_SECONDS = 10.0


def start_tcpdump(port: int, path: Path) -> subprocess.Popen[bytes]:
    """tcpdump writing `path`, once it says it is listening (its stderr line).

    --immediate-mode: else the tail of the capture is lost on stop (FACTS.md).
    -U: each packet written as it comes. -Z root: keep the privileges to write `path`
    (tcpdump otherwise switches to its own user, who may not write a root-only dir).
    """
    process = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-w", str(path), "--immediate-mode", "-U", "-Z", "root",
         "-s", "0", f"tcp port {port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert process.stderr is not None
    os.set_blocking(process.stderr.fileno(), False)
    seen = b""
    deadline = time.monotonic() + READY_SECONDS
    while b"listening on" not in seen and time.monotonic() < deadline and process.poll() is None:
        try:
            seen += os.read(process.stderr.fileno(), 4096) or b""
        except BlockingIOError:
            time.sleep(0.02)
    if b"listening on" not in seen:
        stop_tcpdump(process)
        pytest.fail(f"tcpdump did not start: {seen.decode(errors='replace')}")
    return process


def settle(path: Path, client_ports: set[int], limit: float = 10.0) -> None:
    """Wait until tcpdump has written a FIN of every connection: on a busy machine it
    reads the kernel's buffer late (the file can stand still for a second), and a
    SIGINT before it has read them loses the last connections."""
    from scapy.all import TCP, PcapReader

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        finished = set()
        try:
            with PcapReader(str(path)) as packets:
                for packet in packets:
                    if TCP in packet and packet[TCP].flags.F:
                        finished |= {packet[TCP].sport, packet[TCP].dport}
        except (OSError, EOFError):
            pass  # not written yet, or a packet half written
        if client_ports <= finished:
            return
        time.sleep(0.1)


def stop_tcpdump(process: subprocess.Popen[bytes]) -> None:
    """SIGINT: tcpdump writes what it holds and exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    if process.stderr:
        process.stderr.close()


def test_inspect_names_sse_events_and_websocket_frames_in_a_tcpdump_capture(tmp_path):
    require(os.geteuid() == 0, "tcpdump captures as root")
    require(shutil.which("tcpdump") is not None, "tcpdump is needed (docs/ci-packages.txt)")
    path = tmp_path / "push.pcap"
    with start_lab("lab", "epoll") as server:
        dump = start_tcpdump(server.port, path)
        try:
            exchanges = sse(server.address, time.monotonic() + 15)
            exchanges += websocket(server.address, time.monotonic() + 15)
            settle(path, {e.client_port for e in exchanges})
        finally:
            stop_tcpdump(dump)
    inspected = subprocess.run(
        [sys.executable, "-m", "lab.trace", "inspect", str(path), "--port", str(server.port), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert inspected.returncode == 0, inspected.stderr
    doc = json.loads(inspected.stdout)
    assert len(doc["connections"]) == len(exchanges) == 3  # stream, publisher, WebSocket
    named = [e for c in doc["connections"] for e in c["elements"]]
    events = [e["detail"] for e in named if e["name"] == "SSE event"]
    assert [d.split("id=")[1].split()[0] for d in events] == ["'1'", "'2'"]
    assert [d.split("data=")[1] for d in events] == [repr(m.decode()) for m in SSE_MESSAGES]
    frames = [(e["direction"], e["detail"]) for e in named if e["name"] == "WebSocket frame"]
    assert [d for d, _ in frames if d == ">"] and [d for d, _ in frames if d == "<"]
    for direction, detail in frames:
        assert ("MASK=1" if direction == ">" else "MASK=0") in detail
        assert "(text)" in detail or "(close)" in detail
    # And the streams in the file are exactly what the clients sent and received.
    by_port = {int(c.client[1]): c for c in inspect_file(str(path), server.port).connections}
    for exchange in exchanges:
        conn = by_port[exchange.client_port]
        assert conn.upstream.data == exchange.sent and conn.downstream.data == exchange.received
        assert conn.upstream.fin_offset is not None and conn.downstream.fin_offset is not None
