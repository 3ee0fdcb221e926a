"""The lab as a subprocess, for the pattern and push tests.

    with running_server("epoll", "--sse-heartbeat", "0.2") as server:
        server.url("/topics/t")            # http://127.0.0.1:PORT/topics/t
        server.address                     # ("127.0.0.1", PORT)

A server is `python -m MODULE serve --app lab --io MODEL --port 0 --data-dir DIR` (MODULE
is `lab`, or a test app with the same CLI face) with the repository root as cwd and
PYTHONPATH. The listening line is read with a timeout; the server is stopped with
SIGTERM to its own PID, then SIGKILL if it lingers. Without a `data_dir`, it gets a
fresh temporary one, removed at stop: uploads never land in the repository.
"""
from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
IO_MODELS = ("blocking", "threads", "pool", "epoll", "asyncio", "uvloop")
EVENT_LOOP_MODELS = ("epoll", "asyncio", "uvloop")
CONCURRENT_MODELS = ("threads", "pool", "epoll", "asyncio", "uvloop")


class Server:
    def __init__(self, proc: subprocess.Popen, host: str, port: int, io: str,
                 data_dir: Path, owns_data_dir: bool) -> None:
        self.proc, self.host, self.port, self.io = proc, host, port, io
        self.data_dir = data_dir
        self._owns_data_dir = owns_data_dir

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    def connect(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=timeout)
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
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def start_server(io: str, *args: str, data_dir: Path | None = None, module: str = "lab",
                 timeout: float = 15.0) -> Server:
    owns = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="lab-data-")) if owns else Path(data_dir)
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", module, "serve", "--app", "lab", "--io", io,
               "--port", "0", "--data-dir", str(data_dir), *args]
    errors = tempfile.TemporaryFile()  # a pipe nobody reads could block a chatty server
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=errors, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None

    def fail(why: str) -> RuntimeError:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        errors.seek(0)
        if owns:
            shutil.rmtree(data_dir, ignore_errors=True)
        return RuntimeError(f"{' '.join(command)}: {why}\n{errors.read().decode(errors='replace')}")

    give_up = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = give_up - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            raise fail(f"printed no listening line in {timeout} s")
        byte = os.read(proc.stdout.fileno(), 1)  # unbuffered: select() sees what is left
        if not byte:
            raise fail(f"exited with {proc.wait()}")
        line += byte
    errors.close()
    # "listening on http://HOST:PORT (io=MODEL, app=APP)"
    hostport = line.split(b"http://", 1)[1].split(b" ", 1)[0].decode()
    host, port = hostport.rsplit(":", 1)
    return Server(proc, host, int(port), io, data_dir, owns)


@contextmanager
def running_server(io: str, *args: str, data_dir: Path | None = None,
                   module: str = "lab") -> Iterator[Server]:
    server = start_server(io, *args, data_dir=data_dir, module=module)
    try:
        yield server
    finally:
        server.stop()


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
