"""Scenario checks: the whole lab app served on the student's modules, driven by a
script of several requests over several connections, with the clock running.

The pattern exercises (short polling, long polling, push) cannot be judged one request
at a time: "202 *at once*", "held until a publish, then answered *within 50 ms*", "the
waiter is *freed* when its client leaves", "the server answers *other* requests while a
job runs" are claims about timing and about more than one connection. A scenario is a
plain function ``scenario(s: Scenario)``: it sends requests through ``s`` (each on its
own connection, or held open), and records what it judged with ``s.expect(...)``. A
failed expectation that later steps depend on ends the scenario (``fatal=True``).

The server runs exactly as ``ServerCheck`` runs it (``python -m lab.grade.serve ... --
serve --app lab --io epoll``), in the sandbox. ``epoll`` is the default I/O model on
purpose: one thread, so an app that blocks (sleeps until a job is done, busy-waits for a
message) blocks every connection, and the checks that look at other connections see it.

Every case shows the request sent and the bytes received, escaped, the rule, and a
reproduction with ``curl`` against the same server started by hand. With ``--pcap DIR``
a visible scenario's traffic (every connection to the server) is kept as ``ServerCheck``
keeps it (``ctx.capture``); a hidden one's never is.
"""
from __future__ import annotations

import json
import os
import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import feedback
from ..sandbox import Sandbox, neutralize
from . import CaseResult, CheckOutcome, Context
from .net import ServerCheck, connect, read_response

__all__ = ["Reply", "Pending", "Scenario", "ScenarioCheck", "Stop"]

# Clock ticks per second, for /proc/PID/stat's utime and stime.
_TICKS = os.sysconf("SC_CLK_TCK")


class Stop(Exception):
    """The scenario cannot go on: a step that later steps need did not work."""


@dataclass
class Reply:
    """One response as the grader read it (or the error class instead)."""

    sent: bytes
    received: bytes = b""
    status: int | None = None
    headers: list = field(default_factory=list)  # (lowercased name, value), bytes
    body: bytes = b""
    error_class: str | None = None
    elapsed: float = 0.0  # seconds from the last byte sent to the response complete
    finished_at: float = 0.0  # time.monotonic() when it was complete
    curl: str = ""

    def header(self, name: bytes) -> bytes | None:
        found = None
        for n, v in self.headers:
            if n == name.lower():
                found = v
        return found

    def json(self):
        """The body as JSON, or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


def request_bytes(method: str, target: str, body: bytes = b"", headers: tuple = ()) -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: lab"]
    head += [f"{n}: {v}" for n, v in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def curl_line(method: str, target: str, body: bytes = b"", port: int = 8080) -> str:
    parts = ["curl", "-si"]
    if method not in ("GET",) or body:
        parts += ["-X", method]
    if body:
        parts += ["--data-binary", body.decode("latin-1")]
    return " ".join(shlex.quote(p) for p in parts) + f" 'http://127.0.0.1:{port}{target}'"


class Pending:
    """A request sent on its own connection whose response has not been read yet (a
    held long poll, a slow POST). ``finish()`` reads it; ``close()`` walks away."""

    def __init__(self, sock: socket.socket, sent: bytes, curl: str) -> None:
        self.sock = sock
        self.sent = sent
        self.curl = curl
        self.sent_at = time.monotonic()
        self.early = b""

    def anything_within(self, seconds: float) -> bytes | None:
        """Bytes that arrive within ``seconds``: None when nothing came (the server holds
        the answer), b"" when it closed. They become the start of ``finish()``'s response."""
        self.sock.settimeout(seconds)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            return b""
        self.early += data  # b"" is EOF: finish() will see it again
        return data

    def finish(self, timeout: float) -> Reply:
        reply = Reply(sent=self.sent, curl=self.curl)
        if self.early:
            ex = _read_with_prefix(self.sock, self.early, timeout)
        else:
            ex = read_response(self.sock, timeout, extra_wait=0.0)
        done = time.monotonic()
        reply.received = ex.received
        reply.error_class = ex.error_class if ex.error_class != "extra_bytes" else None
        reply.elapsed = done - self.sent_at
        reply.finished_at = done
        if ex.head:
            reply.status = ex.head.get("status")
            reply.headers = ex.head.get("headers", [])
            reply.body = ex.head.get("body", b"")
        self.close()
        return reply

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _Prefixed:
    """A socket whose first recv() gives bytes already read."""

    def __init__(self, sock: socket.socket, prefix: bytes) -> None:
        self.sock, self.prefix = sock, prefix

    def settimeout(self, t):
        self.sock.settimeout(t)

    def recv(self, n: int) -> bytes:
        if self.prefix:
            data, self.prefix = self.prefix, b""
            return data
        return self.sock.recv(n)


def _read_with_prefix(sock: socket.socket, prefix: bytes, timeout: float):
    return read_response(_Prefixed(sock, prefix), timeout, extra_wait=0.0)  # type: ignore[arg-type]


class Scenario:
    """What a scenario function gets: a client for the served lab, and ``expect``."""

    def __init__(self, ctx: Context, host: str, port: int, netns_pid: int | None, box: Sandbox,
                 start_line: str) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.host, self.port, self.netns_pid = host, port, netns_pid
        self.box = box
        self.start_line = start_line
        self.cases: list[CaseResult] = []

    # -- talking to the server ----------------------------------------------------------
    def start(self, method: str, target: str, body: bytes = b"", headers: tuple = ()) -> Pending:
        data = request_bytes(method, target, body, headers)
        curl = curl_line(method, target, body)
        try:
            sock = connect(self.host, self.port, 5.0, self.netns_pid)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(data)
        except OSError as exc:
            self.expect(f"{method} {target}", False, "the server accepts the connection and the request",
                        expected="a connection", reply=Reply(sent=data, curl=curl, error_class="connection_refused"),
                        got=f"({exc})", fatal=True)
        return Pending(sock, data, curl)

    def request(self, method: str, target: str, body: bytes = b"", headers: tuple = (),
                timeout: float = 3.0) -> Reply:
        return self.start(method, target, body, headers).finish(timeout)

    def server_cpu(self) -> float:
        """CPU seconds (user + system) used so far by every process of the server."""
        total = 0
        for pid in self.box.pids():
            try:
                fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                continue
        return total / _TICKS

    def stats(self) -> dict:
        """``GET /stats`` of the lab app (waiters held right now), or {} if unreadable."""
        reply = self.request("GET", "/stats", timeout=2.0)
        value = reply.json()
        return value if isinstance(value, dict) else {}

    # -- judging ------------------------------------------------------------------------
    def expect(self, id: str, ok: bool, rule: str, *, expected: str = "", reply: Reply | None = None,
               got: str = "", hint: str = "", fatal: bool = False, sent: str = "") -> bool:
        res = CaseResult(id=id, passed=bool(ok), sent=sent, received="", expected=expected, rule=rule)
        if reply is not None:
            res.sent = feedback.escape(reply.sent)
            res.received = feedback.escape(reply.received)
            res.reproduce = f"{self.start_line} &  {reply.curl}"
            if not ok and not hint and reply.error_class:
                hint = feedback.hint_for(reply.error_class)
        if got:  # a multi-line `got` (a hexdump) is indented under its label
            got = neutralize(got).rstrip("\n").replace("\n", "\n" + " " * 20)
            res.received = (res.received + "  " if res.received else "") + got
        res.hint = hint if not ok else ""
        self.cases.append(res)
        if not ok and fatal:
            raise Stop(id)
        return bool(ok)

    def expect_status(self, id: str, reply: Reply, status: int | tuple, rule: str, *, fatal: bool = True) -> bool:
        want = status if isinstance(status, tuple) else (status,)
        ok = reply.status in want
        hint = ""
        if not ok and reply.status == 500:
            hint = "The server answered 500: your code raised. Its stderr (below) has the traceback."
        elif not ok and reply.status is None:
            hint = feedback.hint_for(reply.error_class or "") or "no complete response came back"
        return self.expect(id, ok, rule, expected=" or ".join(f"HTTP/1.1 {s} ..." for s in want), reply=reply,
                           hint=hint, fatal=fatal)


class ScenarioCheck(ServerCheck):
    """Serve the lab on the submission, run ``scenario(s)``, score the cases it judged."""

    def __init__(self, scenario: Callable[[Scenario], None],
                 serve_args: tuple = ("--app", "lab", "--io", "epoll", "--data-dir", "data")) -> None:
        super().__init__([], serve_args)
        self.scenario = scenario

    def run(self, ctx: Context) -> CheckOutcome:
        env = {"PYTHONPATH": str(ctx.lab_root)} if ctx.lab_root else {}
        box = Sandbox(self.command(ctx), workdir=ctx.submission, limits=ctx.limits, env=env)
        box.start(b"")
        outcome = CheckOutcome(status="failed")
        scenario = None
        try:
            address = self._wait_listening(box, min(10.0, ctx.limits.wall_seconds))
            if address is None:
                return self.never_listened(box)
            host, port = address
            start_line = " ".join(["python -m lab.grade.serve --exercise", ctx.manifest.id, "--submission",
                                   shlex.quote(str(ctx.origin or ctx.submission)), "--", "serve",
                                   *self.serve_args, "--port 8080"])
            netns_pid = box.proc.pid if box.netns else None
            scenario = Scenario(ctx, host, port, netns_pid, box, start_line)
            stopped = False
            cap = ctx.capture(port, netns_pid)  # --pcap: visible checks only, as ServerCheck
            try:
                self.scenario(scenario)
            except Stop:
                stopped = True
            finally:
                if cap is not None:
                    cap.finish()
        finally:
            result = box.wait(0.05)
        outcome.cases = scenario.cases if scenario else []
        outcome.stdout = neutralize(result.stdout, total=result.stdout_total)
        outcome.stderr = neutralize(result.stderr, total=result.stderr_total)
        if result.status in ("memory_limit", "cpu_limit", "process_limit", "grader_error"):
            outcome.status, outcome.message = result.status, result.message
            return outcome
        passed = sum(c.passed for c in outcome.cases)
        total = max(1, len(outcome.cases))
        if outcome.cases and passed == len(outcome.cases) and not stopped:
            outcome.status, outcome.fraction = "passed", 1.0
        else:
            outcome.fraction = passed / total if not stopped else 0.0
            first = next((c for c in outcome.cases if not c.passed), None)
            outcome.message = f"{passed} of {len(outcome.cases)} steps passed" + (
                f"; stopped at `{first.id}`" if stopped and first else "")
        return outcome
