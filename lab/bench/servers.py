"""Start a server as a subprocess, learn its port, stop it: the one place that does so.

Every server the harness measures, the lab's own I/O models and the peers alike, is a
child process started here:

* on the CPUs given (`os.sched_setaffinity` in the child before `exec`, so every thread
  it ever starts inherits them), so that it never shares a core with the load generator;
* in a session of its own, so a Ctrl-C at the terminal reaches only the harness, which
  then stops its servers itself, by PID;
* ready when it prints `listening on http://HOST:PORT ...` (the `lab serve` contract;
  the peers' runners print the same line), or, for a server that announces nothing
  (nginx), when its port accepts a connection.

A server that exits, prints something else or stays silent raises `ServerStartError`
with the tail of its stderr: the scenario puts that message in the table.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from .loadgen import ResponseError, ResponseReader, build_request

__all__ = ["ServerSpec", "RunningServer", "ServerStartError", "lab_server", "free_port", "get", "child_env"]

LISTENING = re.compile(r"listening on http://([^:/\s]+|\[[^\]]+\]):(\d+)")
START_TIMEOUT = 15.0  # seconds; a cold Python import of uvicorn takes ~1 s on this machine
STOP_TIMEOUT = 5.0  # SIGTERM, then SIGKILL: in-flight responses get this long to finish


class ServerStartError(Exception):
    """The server did not come up; the message is what a user should read."""


@dataclass(frozen=True)
class ServerSpec:
    name: str  # what the table calls it: "uvloop", "pool w=16", "uvicorn-httptools"
    kind: str  # "lab" or "peer"
    argv: list[str]
    port: int | None = None  # set when the server does not announce its port
    env: dict[str, str] = field(default_factory=dict)
    cleanup: tuple[str, ...] = ()  # temporary paths to remove after it stops


def lab_server(io: str, app: str = "hello", workers: int | None = None,
               serve_cmd: list[str] | None = None) -> ServerSpec:
    """`python -m lab serve --app APP --io IO --host 127.0.0.1 --port 0 [--workers N]`."""
    argv = list(serve_cmd or [sys.executable, "-m", "lab", "serve"])
    argv += ["--app", app, "--io", io, "--host", "127.0.0.1", "--port", "0"]
    name = io
    if workers is not None:
        argv += ["--workers", str(workers)]
        name = f"{io} w={workers}"
    return ServerSpec(name=name, kind="lab", argv=argv)


PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment, with the project importable (`python -m lab...` from any cwd)."""
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT_ROOT, env.get("PYTHONPATH")) if p)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now, for servers that cannot bind port 0 and tell us (nginx)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def get(host: str, port: int, path: str, timeout: float = 5.0) -> int:
    """One GET on a fresh connection; the response status. Raises OSError/ResponseError."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(build_request(host, port, path))
        reader = ResponseReader()
        while True:
            data = s.recv(65536)
            if not data:
                raise ResponseError("connection closed before a complete response")
            responses = reader.feed(data)
            if responses:
                return responses[0].status


class RunningServer:
    """A started server. Use as a context manager: it is always stopped, by its PID."""

    def __init__(self, spec: ServerSpec, cpus: set[int] | None = None) -> None:
        self.spec = spec
        self.host = "127.0.0.1"
        self.port = 0
        self.exit_code: int | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="lab-bench-server-", suffix=".log", delete=False)
        env = child_env(spec.env)

        def in_child() -> None:  # runs after fork, before exec
            if cpus:
                os.sched_setaffinity(0, cpus)

        try:
            self.proc = subprocess.Popen(
                spec.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log,
                env=env, preexec_fn=in_child, start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            for path in (self._log.name, *spec.cleanup):
                _remove(path)
            raise ServerStartError(f"cannot run {spec.argv[0]}: {exc.strerror}") from None
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        if self.spec.port is not None:
            self.port = self.spec.port
            self._drain_stdout()
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise ServerStartError(self._died())
                try:
                    socket.create_connection((self.host, self.port), timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.05)
            raise ServerStartError(f"port {self.port} not accepting after {START_TIMEOUT:g}s")
        line = self._read_first_line(deadline)
        match = LISTENING.search(line)
        if match is None:
            raise ServerStartError(f"expected 'listening on http://HOST:PORT', got {line[:120]!r}")
        self.host, self.port = match.group(1).strip("[]"), int(match.group(2))
        self._drain_stdout()

    def _read_first_line(self, deadline: float) -> str:
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServerStartError(f"no 'listening on' line after {START_TIMEOUT:g}s"
                                           + self._stderr_tail())
                if sel.select(remaining):
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        self.proc.wait(timeout=STOP_TIMEOUT)
                        raise ServerStartError(self._died())
                    buf += chunk
        line, _, _rest = bytes(buf).partition(b"\n")
        return line.decode(errors="replace")

    def _drain_stdout(self) -> None:
        """Keep reading stdout so a chatty server never blocks on a full pipe."""

        def drain() -> None:
            for _line in self.proc.stdout:
                pass

        threading.Thread(target=drain, daemon=True).start()

    def _stderr_tail(self, lines: int = 6) -> str:
        try:
            with open(self._log.name, "rb") as f:
                text = f.read()[-4000:].decode(errors="replace").strip()
        except OSError:
            return ""
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return (": " + " | ".join(tail)) if tail else ""

    def _died(self) -> str:
        return f"exited with code {self.proc.returncode} before serving" + self._stderr_tail()

    def stop(self) -> None:
        """SIGTERM our process (by PID), wait, SIGKILL if it does not go."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.exit_code = self.proc.returncode
        self._log.close()
        for path in (self._log.name, *self.spec.cleanup):
            _remove(path)


def _remove(path: str) -> None:
    import shutil

    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass
