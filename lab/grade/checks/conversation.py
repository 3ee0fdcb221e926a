"""Conversations: several requests and responses on one connection.

A ``Conversation`` is a list of steps on one socket: bytes to send, an ``Expect``ed
response (read with exact framing: Content-Length, chunked, or no body for HEAD, 1xx,
204 and 304), then ``CLOSED`` (the server must close now, having sent nothing more) or
``OPEN`` (the connection must stay open and quiet). Whatever ends a conversation, a byte
after the last expected response fails it: the next response would be corrupt.

Keep-alive, pipelining (several requests in one write, answered in order), HTTP/1.0
and ``Connection: close`` are all conversations.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from .. import feedback
from . import CaseResult, Context
from .net import ServerCheck, _chunked_done, _parse_head, connect

__all__ = ["Expect", "Conversation", "ConversationCheck", "CLOSED", "OPEN"]

CLOSED = "closed"
OPEN = "open"
QUIET = 0.3  # seconds of silence that say "nothing more is coming"


@dataclass(frozen=True)
class Expect:
    status: int
    headers: tuple = ()  # (name, value) pairs that must be there (names any case)
    absent: tuple = ()  # field names that must not be there
    body: bytes | None = None  # the exact body, when known
    no_body: bool = False  # a response to HEAD: framing fields, no body bytes
    contains: bytes | None = None  # the body must contain this (e.g. the echoed target)

    def describe(self) -> str:
        parts = [f"HTTP/1.1 {self.status} ..."]
        parts += [f"{n.decode()}: {v.decode()}" for n, v in self.headers]
        parts += [f"(no {n.decode()})" for n in self.absent]
        if self.no_body:
            parts.append("(no body)")
        elif self.body is not None:
            parts.append(f"body {feedback.escape(self.body)}")
        if self.contains is not None:
            parts.append(f"body with {feedback.escape(self.contains)}")
        return "  ".join(parts)


@dataclass(frozen=True)
class Conversation:
    id: str
    rule: str
    steps: tuple  # bytes to send | float: pause (s) | Expect | CLOSED | OPEN

    @property
    def data(self) -> bytes:
        return b"".join(s for s in self.steps if isinstance(s, bytes))


class _Reader:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buf = bytearray()
        self.received = bytearray()
        self.eof = False

    def _more(self, until: float) -> bool:
        left = until - time.monotonic()
        if left <= 0 or self.eof:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.eof = True
            raise
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        self.received += chunk
        return True

    def response(self, expect: Expect) -> tuple[dict | None, str | None]:
        """One response off the buffer: (head with body, None) or (None, error class)."""
        while True:
            parsed = _parse_head(bytes(self.buf))
            if parsed is not None:
                break
            if not self._more(self.deadline):
                return None, ("eof_partial" if self.buf else "eof_empty") if self.eof else (
                    "timeout_partial" if self.buf else "timeout_empty")
        head, start = parsed
        names = {n: v for n, v in head["headers"]}
        status = head["status"] or 0
        if expect.no_body or status in (204, 304) or 100 <= status < 200:
            end = start
        elif b"chunked" in names.get(b"transfer-encoding", b"").lower():
            while (end := _chunked_done(self.buf, start)) is None:
                if not self._more(self.deadline):
                    return None, "missing_final_chunk"
        elif b"content-length" in names:
            try:
                end = start + int(names[b"content-length"])
            except ValueError:
                return None, "wrong_content_length"
            while len(self.buf) < end:
                if not self._more(self.deadline):
                    return None, "wrong_content_length"
        else:
            while self._more(self.deadline):
                pass
            end = len(self.buf)
        head["body"] = bytes(self.buf[start:end])
        del self.buf[:end]
        return head, None


class ConversationCheck(ServerCheck):
    """Start the lab on the submission's modules; run each conversation on its own socket."""

    def __init__(self, cases: list[Conversation], serve_args: tuple = ("--app", "echo", "--io", "threads")) -> None:
        super().__init__(cases, serve_args)

    def run_cases(self, ctx: Context, host, port, netns_pid, per_case, box):
        for conv in self.cases:
            yield self.converse(ctx, conv, host, port, netns_pid, per_case)

    def converse(self, ctx: Context, conv: Conversation, host, port, netns_pid, timeout: float) -> CaseResult:
        res = CaseResult(id=conv.id, passed=False, sent=feedback.escape(conv.data), received="",
                         expected="  |  ".join(s.describe() if isinstance(s, Expect) else
                                               ("then the server closes" if s == CLOSED else
                                                "then the connection stays open" if s == OPEN else "")
                                               for s in conv.steps if not isinstance(s, (bytes, float))),
                         rule=conv.rule)
        start = " ".join(["python -m lab.grade.serve --exercise", ctx.manifest.id, "--submission",
                          str(ctx.origin or ctx.submission), "--", "serve", *self.serve_args, "--port 8080"])
        res.reproduce = f"{start} &  {feedback.nc_reproduction(conv.data, 8080)}"
        try:
            sock = connect(host, port, timeout, netns_pid)
        except OSError as exc:
            res.received, res.hint = f"({exc})", feedback.hint_for("connection_refused")
            return res
        reader = _Reader(sock, time.monotonic() + timeout)
        problem, at = None, 0
        with sock:
            try:
                steps = list(conv.steps)
                for i, step in enumerate(steps):
                    if isinstance(step, bytes):
                        sock.sendall(step)
                        continue
                    if isinstance(step, float):
                        time.sleep(step)  # a pause: the next bytes arrive in a read of their own
                        continue
                    at = len(reader.received) - len(reader.buf)
                    if isinstance(step, Expect):
                        head, error = reader.response(step)
                        if error:
                            problem = (error, feedback.hint_for(error))
                            break
                        problem = self._judge_response(step, head)
                        if problem:
                            break
                    elif step == CLOSED:
                        while reader._more(time.monotonic() + min(2.0, timeout)):
                            pass
                        if reader.buf:
                            problem = ("extra_bytes", "the server should have closed the connection after that response, "
                                       "sending nothing more: " + feedback.hint_for("extra_bytes"))
                        elif not reader.eof:
                            problem = ("not_closed", "the connection stayed open: after this response the server must "
                                       "close it (RFC 9112 §9.6)")
                    elif step == OPEN:
                        reader._more(time.monotonic() + QUIET)
                        if reader.buf:
                            problem = ("extra_bytes", feedback.hint_for("extra_bytes"))
                        elif reader.eof:
                            problem = ("closed_early", "the server closed a persistent connection: HTTP/1.1 connections "
                                       "stay open unless a `Connection: close` says otherwise (RFC 9112 §9.3)")
                if problem is None and steps and steps[-1] not in (CLOSED, OPEN):
                    reader._more(time.monotonic() + QUIET)
                    if reader.buf:
                        problem = ("extra_bytes", feedback.hint_for("extra_bytes"))
            except ConnectionResetError:
                problem = ("connection_reset", feedback.hint_for("connection_reset"))
            except OSError as exc:
                problem = ("connection_reset", f"{feedback.hint_for('connection_reset')} ({exc})")
        res.received = feedback.escape(bytes(reader.received))
        if problem is None:
            res.passed = True
        else:
            res.hint = problem[1]
            res.caret_in, res.caret = "received", feedback.escaped_offset(bytes(reader.received), min(at, len(reader.received)))
        return res

    @staticmethod
    def _judge_response(expect: Expect, head: dict) -> tuple[str, str] | None:
        if head["status"] != expect.status:
            return ("wrong_status", f"expected status {expect.status}, got {head['status']}: are the answers in the "
                    "order of the requests?")
        names = head["headers"]
        for name, value in expect.headers:
            if (name.lower(), value) not in names:
                return ("header", f"the response needs the header field `{name.decode()}: {value.decode()}`")
        for name in expect.absent:
            if any(n == name.lower() for n, _ in names):
                return ("header", f"the response must not have a `{name.decode()}` field here")
        if expect.body is not None and head["body"] != expect.body:
            return ("body", f"expected the body {feedback.escape(expect.body)}, got {feedback.escape(head['body'])}: "
                    "answers out of order, or a wrong Content-Length?")
        if expect.contains is not None and expect.contains not in head["body"]:
            return ("body", f"expected a body with {feedback.escape(expect.contains)}, got "
                    f"{feedback.escape(head['body'][:120])}: are the answers in the order of the requests?")
        return None
