"""CPU instructions a server spends per request, counted by valgrind: a figure that the
machine's load cannot move.

    python -m lab.bench.instructions [--io epoll,uvloop,asyncio] [--peers] [--requests N]

On a shared machine req/s, and even CPU time per request, drift by a third from one
minute to the next; the instructions a request costs do not. Each server runs twice
under `valgrind --tool=callgrind`: once answering a few requests, once N more, all
keep-alive GETs of `/` from 16 connections driven by this process (outside valgrind).
Start-up and shutdown cost the same both times, so the difference of the two totals over
N is what one request costs in the server's own user space. The kernel's share (what
its syscalls cost) is not counted, so compare servers that make the same syscalls.
Valgrind runs a server some 50 times slower: a run takes a minute or two.
"""
from __future__ import annotations

import argparse
import json
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

from .loadgen import ResponseReader, build_request
from .peers import PEERS
from .servers import LISTENING, lab_server

__all__ = ["count_instructions", "drive", "main"]

CONNECTIONS = 16
BASE_REQUESTS = 16 * 50  # the short run: start-up, shutdown and warm caches
START_TIMEOUT = 120.0  # seconds: a Python server's imports under valgrind
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def drive(port: int, requests: int, connections: int = CONNECTIONS, timeout: float = 600.0) -> int:
    """`requests` keep-alive GETs over `connections` sockets, one in flight on each;
    returns how many complete 200 answers came back."""
    per = -(-requests // connections)
    request = build_request("127.0.0.1", port, "/")
    sel = selectors.DefaultSelector()
    left: dict[socket.socket, tuple[ResponseReader, list[int]]] = {}
    try:
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(request)
            left[sock] = (ResponseReader(), [per])
            sel.register(sock, selectors.EVENT_READ)
        done = 0
        give_up = time.monotonic() + timeout
        while left and time.monotonic() < give_up:
            for key, _ in sel.select(1.0):
                sock = key.fileobj
                reader, todo = left[sock]
                data = sock.recv(65536)
                answers = reader.feed(data) if data else []
                if not data or any(a.status != 200 for a in answers):
                    raise RuntimeError(f"the server closed or failed after {done} answers")
                done += len(answers)
                todo[0] -= len(answers)
                if todo[0] <= 0:
                    sel.unregister(sock)
                    sock.close()
                    del left[sock]
                elif answers:
                    sock.sendall(request)
        return done
    finally:
        for sock in left:
            sock.close()
        sel.close()


def _one_run(argv: list[str], requests: int) -> tuple[int, int]:
    """(instructions, answers) of one server run under callgrind."""
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        while time.monotonic() < deadline and not LISTENING.search(line):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited: {proc.stderr.read()[-400:]}")
        match = LISTENING.search(line)
        if match is None:
            raise RuntimeError(f"no 'listening on' line within {START_TIMEOUT:g} s")
        answers = drive(int(match.group(2)), requests)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    found = COLLECTED.findall(err)
    if not found:
        raise RuntimeError(f"valgrind reported no total: {err[-400:]}")
    return int(found[-1]), answers


def count_instructions(argv: list[str], requests: int) -> dict:
    small, small_answers = _one_run(argv, BASE_REQUESTS)
    large, large_answers = _one_run(argv, BASE_REQUESTS + requests)
    per_request = (large - small) / (large_answers - small_answers)
    return {"instructions_per_request": round(per_request), "requests": large_answers - small_answers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.instructions",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--io", default="epoll,uvloop,asyncio",
                        help="lab I/O models, comma-separated (default: epoll,uvloop,asyncio)")
    parser.add_argument("--peers", action="store_true",
                        help="also count uvicorn-httptools, aiohttp (when installed), the naive floors "
                             "and the lab's core on callbacks")
    parser.add_argument("--requests", type=int, default=8000,
                        help="requests in the difference of the two runs (default: 8000)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    servers = {io: lab_server(io, "hello").argv for io in args.io.split(",") if io}
    if args.peers:
        for name in ("uvicorn-httptools", "aiohttp", "naive-selectors", "naive-streams-uvloop",
                     "naive-streams-asyncio", "callbacks-uvloop", "callbacks-asyncio"):
            peer = PEERS[name]
            if not peer.missing():
                servers[name] = peer.spec().argv
    results = {}
    for name, server_argv in servers.items():
        print(f"{name}: counting ...", end="", flush=True, file=sys.stderr)
        try:
            results[name] = count_instructions(server_argv, args.requests)
        except (RuntimeError, OSError) as exc:
            results[name] = {"error": str(exc)}
        print("\r\x1b[K", end="", file=sys.stderr)
        figure = results[name].get("instructions_per_request")
        print(f"{name:20s} {figure:>9,} instructions/request" if figure else f"{name:20s} {results[name]['error']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"connections": CONNECTIONS, "servers": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
