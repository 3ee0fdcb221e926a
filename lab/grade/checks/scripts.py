"""Scripted checks: a small program of HTTP exchanges against the lab on the student's
modules, for behaviour that takes state (an upload id, an offset) or time (many
connections at once, a stalled client, threads counted under load).

A ``Script`` is a function ``run(client) -> None`` that raises ``Failed`` with what went
wrong. The ``Client`` it gets opens sockets into the server's network namespace, keeps a
transcript of what was sent and received (shown, escaped, when the script fails), knows
the server's pid (``/proc/PID/task`` counts its threads) and the run's seeded RNG.
"""
from __future__ import annotations

import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .. import feedback
from . import CaseResult, Context
from .net import Exchange, ServerCheck, connect, exchange

__all__ = ["Failed", "Script", "Client", "ScriptCheck", "request"]


class Failed(Exception):
    """A script's verdict: ``message`` says what went wrong; ``hint`` the usual cause."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def request(method: str, target: str, headers: list[tuple[str, str]] = (), body: bytes | None = None,
            version: str = "1.1") -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: lab", *[f"{n}: {v}" for n, v in headers]]
    if body is not None and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


@dataclass(frozen=True)
class Script:
    id: str
    rule: str
    run: Callable
    data: bytes = b""  # a representative input (what the kit test greps for when hidden)


class Client:
    def __init__(self, host: str, port: int, netns_pid: int | None, timeout: float, rng: random.Random,
                 server_pid: int | None) -> None:
        self.host, self.port, self.netns_pid = host, port, netns_pid
        self.timeout = timeout
        self.rng = rng
        self.server_pid = server_pid
        self.transcript: list[tuple[bytes, bytes]] = []
        self._lock = threading.Lock()
        self._readers: dict = {}

    def _note(self, sent: bytes, received: bytes) -> None:
        with self._lock:
            self.transcript.append((sent[:2048], received[:2048]))

    def request(self, data: bytes, timeout: float | None = None) -> Exchange:
        """One request on a fresh connection; the response read with exact framing."""
        ex = exchange(self.host, self.port, data, timeout or self.timeout, self.netns_pid)
        self._note(data, ex.received)
        if ex.error_class and ex.error_class != "extra_bytes" and not ex.head:
            raise Failed(f"no response: {ex.error_class.replace('_', ' ')}", feedback.hint_for(ex.error_class))
        if ex.error_class == "extra_bytes":
            raise Failed("bytes came after the end of the response", feedback.hint_for("extra_bytes"))
        return ex

    def open(self) -> socket.socket:
        return connect(self.host, self.port, self.timeout, self.netns_pid)

    def read(self, sock: socket.socket, sent: bytes = b"", timeout: float | None = None) -> Exchange:
        """The next response on ``sock``, with exact framing; bytes after it stay for the
        next call (pipelined responses arrive in one segment)."""
        from .conversation import Expect, _Reader

        reader = self._readers.get(sock)
        if reader is None:
            reader = self._readers[sock] = _Reader(sock, 0.0)
        reader.deadline = time.monotonic() + (timeout or self.timeout)
        before = len(reader.received) - len(reader.buf)
        head, error = reader.response(Expect(0))
        received = bytes(reader.received[before:len(reader.received) - len(reader.buf)]) or bytes(reader.buf)
        self._note(sent, received)
        if error:
            raise Failed(f"no response: {error.replace('_', ' ')}", feedback.hint_for(error))
        return Exchange(sent=sent, received=received, head=head)

    def threads(self) -> int | None:
        """The server's thread count (``/proc/PID/task``), None when unknown."""
        if self.server_pid is None:
            return None
        try:
            return len(os.listdir(f"/proc/{self.server_pid}/task"))
        except OSError:
            return None


def expect_status(ex: Exchange, status: int, what: str) -> None:
    got = ex.head.get("status")
    if got != status:
        raise Failed(f"{what}: expected status {status}, got {got}", feedback.hint_for("wrong_status") if got and got >= 400
                     else "")


def field(ex: Exchange, name: bytes) -> bytes | None:
    for n, v in ex.head.get("headers", []):
        if n == name.lower():
            return v
    return None


class ScriptCheck(ServerCheck):
    """Start the lab on the submission's modules; run each script against it."""

    def __init__(self, cases: list[Script], serve_args: tuple = ("--app", "lab", "--io", "threads")) -> None:
        super().__init__(cases, serve_args)

    def command(self, ctx: Context, port: int | str = 0) -> list[str]:
        cmd = super().command(ctx, port)
        if "--data-dir" in cmd:
            i = cmd.index("--data-dir")
            cmd[i + 1] = str(ctx.submission / cmd[i + 1])
        return cmd

    def run_cases(self, ctx: Context, host, port, netns_pid, per_case, box):
        for script in self.cases:
            client = Client(host, port, netns_pid, per_case, random.Random(f"{ctx.seed}:{ctx.spec.name}:{script.id}"),
                            box.proc.pid if box.proc else None)
            res = CaseResult(id=script.id, passed=False, sent="", received="", expected="", rule=script.rule)
            try:
                script.run(client)
                res.passed = True
            except Failed as exc:
                res.expected = exc.message
                res.hint = exc.hint
            except (OSError, ValueError) as exc:
                res.expected = f"the conversation broke off: {type(exc).__name__}: {exc}"
                res.hint = feedback.hint_for("connection_reset")
            if client.transcript:
                sent, received = client.transcript[-1]
                res.sent, res.received = feedback.escape(sent), feedback.escape(received)
                res.reproduce = feedback.nc_reproduction(sent, 8080)
            yield res
