"""Servers as subprocesses and a raw HTTP client, for the pattern tests.

    with running_server("epoll", data_dir) as server:   # `lab serve --port 0`
        server.url("/topics/t")                          # http://127.0.0.1:PORT/topics/t
        status, headers, body = raw_request(server, b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")

A server is `python -m lab serve --app lab --io MODEL --port 0 --data-dir DIR` with the
repository root as cwd and PYTHONPATH; the listening line is read with a timeout, and
the server is stopped with SIGTERM to its own PID (then SIGKILL if it lingers).
"""
from __future__ import annotations

import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from protocols.http1 import NEED_DATA, Data, EndOfMessage, Response, ResponseParser
from tests.skips import require

ROOT = Path(__file__).resolve().parents[2]
IO_MODELS = ("blocking", "threads", "pool", "epoll", "asyncio", "uvloop")
# One client for the whole session: building an httpx.Client costs 50-150 ms (its TLS
# context). No keep-alive: an idle pooled connection would hold the blocking server.
http = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
EVENT_LOOP_MODELS = ("epoll", "asyncio", "uvloop")
CONCURRENT_MODELS = ("threads", "pool", "epoll", "asyncio", "uvloop")


class Server:
    def __init__(self, proc: subprocess.Popen, host: str, port: int, io: str,
                 data_dir: Path) -> None:
        self.proc = proc
        self.host = host
        self.port = port
        self.io = io
        self.data_dir = data_dir

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def start_server(io: str, data_dir: Path, *args: str, timeout: float = 15.0) -> Server:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "lab", "serve", "--app", "lab", "--io", io,
               "--port", "0", "--data-dir", str(data_dir), *args]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    give_up = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = give_up - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
        if not ready:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"lab serve --io {io} did not start in {timeout} s")
        piece = os.read(proc.stdout.fileno(), 1)
        if not piece:
            err = proc.stderr.read().decode(errors="replace")
            proc.wait()
            raise RuntimeError(f"lab serve --io {io} exited: {err}")
        line += piece
    # "listening on http://HOST:PORT (io=MODEL, app=APP)"
    address = line.split()[2].decode().removeprefix("http://")
    host, _, port = address.rpartition(":")
    return Server(proc, host, int(port), io, Path(data_dir))


@contextmanager
def running_server(io: str, data_dir: Path, *args: str) -> Iterator[Server]:
    server = start_server(io, data_dir, *args)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=IO_MODELS)
def lab_server(request, tmp_path_factory) -> Iterator[Server]:
    """The lab app under each I/O model, one server per model per test module."""
    with running_server(request.param, tmp_path_factory.mktemp(request.param)) as server:
        yield server


# -- a raw client: exact bytes out, parsed response in ---------------------------------
def read_response(sock: socket.socket, method: bytes = b"GET",
                  parser: ResponseParser | None = None) -> tuple[int, dict[str, str], bytes]:
    """Read one final response: (status, headers with lower-case names, body)."""
    parser = parser or ResponseParser()
    parser.expect(method)
    status, headers, body = 0, {}, bytearray()
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            parser.receive_data(sock.recv(65536))
        elif type(event) is Response:
            status = event.status
            headers = {n.decode().lower(): v.decode("latin-1") for n, v in event.headers}
        elif type(event) is Data:
            body += event.data
        elif type(event) is EndOfMessage:
            if status >= 200:
                return status, headers, bytes(body)
            parser.expect(method)  # a 100 Continue: the final response follows
        else:
            raise ConnectionError("closed before a response")


def raw_request(server: Server, data: bytes, method: bytes | None = None,
                timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    with server.connect(timeout) as sock:
        sock.sendall(data)
        return read_response(sock, method or data.split(b" ", 1)[0])


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None,
                  body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def raise_fd_limit(needed: int) -> None:
    """Soft open-files limit up to the hard one (20,000 here; 65,536 is refused)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    require(hard >= needed, f"needs {needed} open files, the hard limit is {hard}")


def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
