"""Real servers in subprocesses, and a raw-socket client to talk to them.

Every server here is `python -m lab serve --io MODEL --app APP --port 0 [options]`, run
from the repository root exactly as a user would run it. The fixture waits for its one
`listening on http://HOST:PORT (...)` line, and on teardown sends SIGTERM to that PID
(never to a process name), waits, and asserts the exit was clean: code 0 and no
traceback on stderr. So every test that uses a server also checks, for free, that
nothing it sent crashed the process or left it unable to stop.

The `model` fixture is module-scoped and parametrized over the six I/O models, so pytest
runs a module's tests model by model and each server is started once per model and
module (`serve`), not once per test. A test that needs its own process (shutdown, a
pool of two workers) asks `fresh_server`.

`Client` is the raw-socket helper: it sends bytes as given (odd splits, bad requests),
reads with `protocols.http1.ResponseParser` and bounds every wait in time.
"""
from __future__ import annotations

import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from lab.config import IO_MODELS
from protocols.http1 import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Headers, Response, ResponseParser,
)

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(rb"listening on http://(\S+):(\d+) \(io=(\w+), app=(\w+)\)\n")
START_TIMEOUT = 15.0  # two cores shared with other suites: be patient, but bounded
STOP_TIMEOUT = 10.0  # shutdown_grace (5 s) plus room
READ_TIMEOUT = 5.0  # the longest a test waits for any one answer

Address = tuple[str, int]


# -- servers -----------------------------------------------------------------------------
class ServerProcess:
    """One `lab serve` process. `stop()` signals it and returns how it ended."""

    def __init__(self, io: str, app: str, options: tuple[str, ...] = (),
                 nofile: int | None = None) -> None:
        """`nofile`: cap the server's open-files limit (soft and hard) to this."""
        self.io, self.app, self.options = io, app, options
        self.argv = [sys.executable, "-m", "lab", "serve", "--io", io, "--app", app,
                     "--port", "0", *options]
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        # stderr goes to a file, not a pipe: a server that logs a lot must never block
        # on a pipe nobody reads.
        self._stderr = tempfile.TemporaryFile()
        preexec = None
        if nofile is not None:
            def preexec() -> None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr,
                                     preexec_fn=preexec)
        self.pid = self.proc.pid
        self.stopped = False
        try:
            line = self._read_line(START_TIMEOUT)
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise
        match = LISTENING.fullmatch(line)
        if match is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.argv}: unexpected first line {line!r}; stderr: "
                                 f"{self.stderr()}")
        assert match.group(3).decode() == io and match.group(4).decode() == app, line
        self.host = match.group(1).decode().strip("[]")  # an IPv6 address is shown [::1]
        self.port = int(match.group(2))
        self.address: Address = (self.host, self.port)

    def __iter__(self):
        """`host, port, process = server`."""
        return iter((self.host, self.port, self.proc))

    def _read_line(self, timeout: float) -> bytes:
        fd = self.proc.stdout.fileno()
        line = bytearray()
        deadline = time.monotonic() + timeout
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"{self.argv}: no listening line within {timeout} s; "
                                     f"stderr: {self.stderr()}")
            chunk = os.read(fd, 1)
            if not chunk:
                self.proc.wait(5)
                raise AssertionError(f"{self.argv} exited {self.proc.returncode} before "
                                     f"listening; stderr: {self.stderr()}")
            line += chunk
        return bytes(line)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> tuple[int | None, float]:
        """Send `sig` to this PID only and wait: (exit code or None if it hung, seconds)."""
        if self.stopped:
            return self.proc.returncode, 0.0
        self.stopped = True
        started = time.monotonic()
        if self.alive:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        finally:
            self.proc.stdout.close()
        return code, time.monotonic() - started

    def stop_cleanly(self, sig: int = signal.SIGTERM) -> float:
        """Stop it and assert it went the way a user expects: code 0, no traceback."""
        was_alive = self.alive
        code, elapsed = self.stop(sig)
        err = self.stderr()
        self._stderr.close()
        assert was_alive, f"{self.io}/{self.app} died before the end of its tests:\n{err}"
        assert code == 0, f"{self.io}/{self.app} exited {code} on {signal.Signals(sig).name}:\n{err}"
        assert "Traceback" not in err, f"{self.io}/{self.app} wrote a traceback:\n{err}"
        return elapsed

    def __repr__(self) -> str:
        return f"<lab serve --io {self.io} --app {self.app} {' '.join(self.options)} pid={self.pid}>"


# Options shared by the servers that test limits and timeouts: small enough to reach
# cheaply, far enough apart to tell one from the other.
STRICT = ("--max-request-line", "256", "--max-header-bytes", "1024", "--max-body", "1024",
          "--header-timeout", "0.5", "--keepalive-timeout", "1")


@pytest.fixture(scope="module", params=IO_MODELS)
def model(request: pytest.FixtureRequest) -> str:
    """The I/O model under test. Module scope: pytest groups a module's tests by model."""
    return request.param


@pytest.fixture(scope="module")
def serve(model: str) -> Iterator[Callable[..., ServerProcess]]:
    """`serve(app, *options)` -> a running server for this model, shared by the module's
    tests with the same app and options. All are stopped (and checked) after them."""
    started: dict[tuple[str, tuple[str, ...]], ServerProcess] = {}

    def get(app: str = "hello", *options: str) -> ServerProcess:
        key = (app, options)
        if key not in started:
            started[key] = ServerProcess(model, app, options)
        server = started[key]
        assert server.alive, f"{server!r} died:\n{server.stderr()}"
        return server

    yield get
    _stop_all(started.values())


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., ServerProcess]]:
    """`fresh_server(io, app, *options)` -> a server of the test's own. A test may stop
    it itself (and check how); the rest are stopped and checked at teardown."""
    started: list[ServerProcess] = []

    def start(io: str, app: str = "hello", *options: str, nofile: int | None = None) -> ServerProcess:
        server = ServerProcess(io, app, options, nofile)
        started.append(server)
        return server

    yield start
    _stop_all(s for s in started if not s.stopped)


def _stop_all(servers) -> None:
    problems = []
    for server in servers:
        try:
            server.stop_cleanly()
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n\n".join(problems)


# -- the raw-socket client ------------------------------------------------------------------
@dataclass
class Reply:
    """One response as read off the wire."""

    status: int
    reason: bytes
    version: bytes
    headers: Headers
    body: bytes = b""
    trailers: Headers = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        """The value of the one field with this name (None if absent; fails if repeated)."""
        values = self.headers_named(name)
        assert len(values) <= 1, f"{name!r} appears {len(values)} times: {self.headers}"
        return values[0] if values else None

    def headers_named(self, name: bytes) -> list[bytes]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def closes(self) -> bool:
        return self.header(b"connection") == b"close"


class Client:
    """A client that speaks raw bytes: whatever `send` is given goes on the wire as is.

        with Client(server.address) as c:
            c.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
            reply = c.read_response()
            c.assert_closed()        # or keep using it

    Every read waits at most `timeout` seconds, then fails the test.
    """

    def __init__(self, address: Address, timeout: float = READ_TIMEOUT) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection(address, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.parser = ResponseParser()
        self.received = bytearray()  # every byte the server sent, for byte-exact checks
        self.eof = False  # the server closed (or reset) the connection
        self.send_failed: OSError | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def abort(self) -> None:
        """Close with a RST instead of a FIN, as a crashed client would."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()

    # -- sending --------------------------------------------------------------------
    def send(self, data: bytes, *methods: bytes) -> None:
        """Send bytes as they are. `methods`: one per request they hold, in order, so
        the parser knows which answers (HEAD's) carry no body. Default: one GET, if the
        bytes start a request line."""
        for method in methods:
            self.parser.expect(method)
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The server may answer and close before taking a whole (bad) request: the
            # answer can still be read, so note it and let the test read.
            self.send_failed = exc

    def request(self, method: bytes = b"GET", target: bytes = b"/", headers: Headers | None = None,
                body: bytes | None = None, version: bytes = b"HTTP/1.1") -> None:
        head = [b"%s %s %s\r\n" % (method, target, version)]
        fields = list(headers) if headers is not None else [(b"Host", b"lab.test")]
        if body is not None and not any(n.lower() in (b"content-length", b"transfer-encoding")
                                        for n, _ in fields):
            fields.append((b"Content-Length", b"%d" % len(body)))
        head += [b"%s: %s\r\n" % field_ for field_ in fields]
        self.send(b"".join(head) + b"\r\n" + (body or b""), method)

    def send_slowly(self, data: bytes, pieces: list[int], pause: float = 0.0) -> None:
        """Send `data` cut into pieces of the given sizes (cycled), pausing between."""
        at, i = 0, 0
        while at < len(data):
            size = pieces[i % len(pieces)]
            self.send(data[at : at + size])
            at += size
            i += 1
            if pause:
                time.sleep(pause)

    # -- reading --------------------------------------------------------------------
    def _recv(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {what} within {self.timeout} s; got so far "
                                 f"{bytes(self.received[-300:])!r}")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"no {what} within {self.timeout} s; got so far "
                                 f"{bytes(self.received[-300:])!r}") from None
        except ConnectionResetError:
            data = b""
        if data:
            self.received += data
        else:
            self.eof = True
        self.parser.receive_data(data)

    def read_response(self, timeout: float | None = None) -> Reply:
        """The next response (a 1xx one included), whole: head, body and trailers."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        reply: Reply | None = None
        body: list[bytes] = []
        while True:
            event = self.parser.next_event()
            if event is NEED_DATA:
                if self.eof:
                    raise AssertionError("the server closed in the middle of a response: "
                                         f"{bytes(self.received[-300:])!r}")
                self._recv(deadline, "complete response")
            elif type(event) is Response:
                reply = Reply(event.status, event.reason, event.version, event.headers)
            elif type(event) is Data:
                body.append(event.data)
            elif type(event) is EndOfMessage:
                assert reply is not None
                reply.body = b"".join(body)
                reply.trailers = list(event.trailers)
                return reply
            else:
                assert type(event) is ConnectionClosed
                raise AssertionError("the server closed the connection without answering; "
                                     f"received {bytes(self.received[-300:])!r}")

    def read_final_response(self, timeout: float | None = None) -> Reply:
        """The next response that is not 1xx."""
        while True:
            reply = self.read_response(timeout)
            if reply.status >= 200:
                return reply

    def assert_closed(self, timeout: float = 2.0) -> None:
        """The server closes the connection within `timeout` and sends nothing more."""
        before = len(self.received)
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() >= deadline:
                raise AssertionError(f"the server did not close within {timeout} s")
            self._recv(deadline, "close")
        extra = bytes(self.received[before:]) + bytes(self.parser.trailing_data())
        assert extra == b"", f"bytes after the last response: {extra[:300]!r}"

    def assert_silent(self, seconds: float) -> None:
        """Nothing arrives and the connection stays open for `seconds`."""
        readable, _, _ = select.select([self.sock], [], [], seconds)
        if readable:
            data = self.sock.recv(65536, socket.MSG_PEEK)
            raise AssertionError(f"expected silence for {seconds} s, got "
                                 f"{'a close' if not data else repr(data[:200])}")

    def wait_closed(self, timeout: float) -> float:
        """Seconds until the server closes (asserting it sends nothing first)."""
        started = time.monotonic()
        self.assert_closed(timeout)
        return time.monotonic() - started


def exchange(address: Address, data: bytes, *methods: bytes,
             timeout: float = READ_TIMEOUT) -> tuple[list[Reply], bool]:
    """Send `data` on a fresh connection and read until the server closes or every
    expected answer came: (final responses, whether the server closed)."""
    methods = methods or (b"GET",)
    with Client(address, timeout) as client:
        client.send(data, *methods)
        replies = []
        while len(replies) < len(methods):
            try:
                replies.append(client.read_final_response())
            except AssertionError:
                if client.eof:
                    break
                raise
        if replies and replies[-1].closes:
            client.assert_closed()
        return replies, client.eof


def get_ok(address: Address) -> Reply:
    """A plain GET on a fresh connection must get 200: the server is still serving."""
    with Client(address) as client:
        client.request(b"GET", b"/", [(b"Host", b"lab.test"), (b"Connection", b"close")])
        reply = client.read_response()
        assert reply.status == 200, reply
        client.assert_closed()
        return reply
