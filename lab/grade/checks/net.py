"""Checks over a socket: start the submission as a server in the sandbox, send bytes,
read the response, and say precisely what went wrong.

The server is started in the sandbox (its own network namespace when we are root: only
``lo``), and must print the lab's line ``listening on http://HOST:PORT`` on stdout. The
grader reaches it by opening its sockets from a thread that has joined the server's
network namespace (``setns``): a socket belongs to the namespace it was created in, so
the rest of the grader is unaffected.

Each exchange is classified into the error classes students meet (connection refused,
reset, EOF with nothing or part of a response, timeout with nothing or part, extra
bytes after the response, wrong Content-Length, missing final chunk) and each class
has a hint in ``feedback.HINTS``.
"""
from __future__ import annotations

import ctypes
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field

from protocols.http1 import Data, Limits
from protocols.http1.body import ChunkedReader

from .. import feedback
from ..sandbox import Sandbox, neutralize
from . import CaseResult, Check, CheckOutcome, Context

__all__ = ["Exchange", "exchange", "connect", "read_response", "ServerCheck", "ServerCase"]

LISTENING = re.compile(rb"listening on http://\[?([^\]\s/]+)\]?:(\d+)")
CLONE_NEWNET = 0x40000000


def connect(host: str, port: int, timeout: float, netns_pid: int | None = None) -> socket.socket:
    """A connected socket; from inside ``netns_pid``'s network namespace if given."""
    if netns_pid is None:
        return socket.create_connection((host, port), timeout=timeout)
    box: dict = {}

    def inside() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{netns_pid}/ns/net", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            box["sock"] = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            box["error"] = exc

    t = threading.Thread(target=inside)  # the thread ends; its socket stays in the namespace
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["sock"]


@dataclass
class Exchange:
    sent: bytes
    received: bytes = b""
    error_class: str | None = None  # a key of feedback.HINTS, or None when complete
    detail: str = ""
    elapsed: float = 0.0
    head: dict = field(default_factory=dict)  # status, headers (lowercased names), body


def _parse_head(data: bytes) -> tuple[dict, int] | None:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    return {"status": int(m.group(1)) if m else None, "headers": headers}, end + 4


def read_response(sock: socket.socket, timeout: float, extra_wait: float = 0.2) -> Exchange:
    """Read one response: the head, then a Content-Length or chunked body, then wait a
    moment to catch extra bytes. Classifies whatever happens instead."""
    ex = Exchange(sent=b"")
    buf = bytearray()
    deadline = time.monotonic() + timeout
    need: int | None = None  # total bytes of the response once known
    chunked = False
    parsed = None
    while True:
        if need is not None and len(buf) >= need:
            break
        if chunked and parsed is not None and _chunked_done(buf, parsed[1]) is not None:
            need = _chunked_done(buf, parsed[1])
            break
        left = deadline - time.monotonic()
        if left <= 0:
            ex.error_class = "timeout_partial" if buf else "timeout_empty"
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            ex.error_class = "timeout_partial" if buf else "timeout_empty"
            break
        except ConnectionResetError:
            ex.error_class = "connection_reset"
            break
        if not chunk:
            if parsed is not None and need is None and not chunked:
                need = len(buf)  # body delimited by close
                break
            ex.error_class = "eof_partial" if buf else "eof_empty"
            break
        buf += chunk
        if parsed is None:
            parsed = _parse_head(bytes(buf))
            if parsed is not None:
                head, start = parsed
                ex.head = head
                names = dict(head["headers"])
                if b"chunked" in names.get(b"transfer-encoding", b"").lower():
                    chunked = True
                elif b"content-length" in names:
                    try:
                        need = start + int(names[b"content-length"])
                    except ValueError:
                        ex.error_class = "wrong_content_length"
                        break
                elif head["status"] in (204, 304) or (head["status"] or 0) < 200:
                    need = start
    if ex.error_class == "timeout_partial" and chunked:
        ex.error_class = "missing_final_chunk"
    elif ex.error_class == "timeout_partial" and need is not None and len(buf) < need:
        ex.error_class = "wrong_content_length"
    if ex.error_class is None and need is not None and len(buf) > need:
        ex.error_class = "extra_bytes"  # arrived with the response itself
    if ex.error_class is None and need is not None:
        # Anything after the end of the response is a protocol error of its own.
        sock.settimeout(extra_wait)
        try:
            more = sock.recv(65536)
            if more:
                buf += more
                ex.error_class = "extra_bytes"
        except (socket.timeout, OSError):
            pass
    ex.received = bytes(buf)
    if ex.head and need is not None:
        body = bytes(buf[parsed[1] : need]) if parsed else b""
        ex.head["body"] = _dechunk(body) if chunked else body
    return ex


def _dechunk(raw: bytes) -> bytes:
    """The body of a complete chunked message (the grader's own reference reader)."""
    reader = ChunkedReader(Limits(max_body=1 << 62))
    buf, parts = bytearray(raw), []
    while type(event := reader.read(buf, True)) is Data:
        parts.append(event.data)
    return b"".join(parts)


def _chunked_done(buf: bytearray, start: int) -> int | None:
    pos = start
    while True:
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            return None
        try:
            size = int(bytes(buf[pos:nl]).split(b";")[0], 16)
        except ValueError:
            return None
        if size == 0:
            end = buf.find(b"\r\n\r\n", nl - 2 if nl >= 2 else nl)
            return end + 4 if end >= 0 else None
        pos = nl + 2 + size + 2
        if pos > len(buf):
            return None


def exchange(host: str, port: int, data: bytes, timeout: float, netns_pid: int | None = None,
             shut_write: bool = False) -> Exchange:
    started = time.monotonic()
    try:
        sock = connect(host, port, timeout, netns_pid)
    except ConnectionRefusedError:
        return Exchange(sent=data, error_class="connection_refused", elapsed=time.monotonic() - started)
    except OSError as exc:
        return Exchange(sent=data, error_class="connection_refused", detail=str(exc))
    with sock:
        try:
            sock.sendall(data)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
        except ConnectionResetError:
            return Exchange(sent=data, error_class="connection_reset")
        except OSError as exc:
            return Exchange(sent=data, error_class="connection_reset", detail=str(exc))
        ex = read_response(sock, timeout)
    ex.sent = data
    ex.elapsed = time.monotonic() - started
    return ex


@dataclass(frozen=True)
class ServerCase:
    """Send ``data``; expect ``status`` and every ``(name, value)`` in ``headers``;
    ``body_check(body) -> str | None`` returns what is wrong with the body, if anything."""

    id: str
    data: bytes
    status: int
    rule: str
    headers: tuple = ()
    body_check: object = None
    closes: bool = False  # the server must close the connection after this response


class ServerCheck(Check):
    """Start ``lab serve`` with the submission's modules in place, run the cases."""

    def __init__(self, cases: list[ServerCase], serve_args: tuple = ("--app", "echo", "--io", "blocking")) -> None:
        self.cases = cases
        self.serve_args = serve_args

    def command(self, ctx: Context, port: int | str = 0) -> list[str]:
        return [
            "python", "-s", "-m", "lab.grade.serve", "--exercise", ctx.manifest.id,
            "--submission", str(ctx.submission), "--", "serve", *self.serve_args,
            "--host", "127.0.0.1", "--port", str(port),
        ]

    def run(self, ctx: Context) -> CheckOutcome:
        env = {"PYTHONPATH": str(ctx.lab_root)} if ctx.lab_root else {}
        # glibc reserves a 64 MiB malloc arena per thread (up to 8 x cores): under the
        # address-space rlimit a server with twenty threads could not start the next one.
        env["MALLOC_ARENA_MAX"] = "2"
        box = Sandbox(self.command(ctx), workdir=ctx.submission, limits=ctx.limits, env=env)
        box.start(b"")
        outcome = CheckOutcome(status="failed")
        try:
            address = self._wait_listening(box, min(10.0, ctx.limits.wall_seconds))
            if address is None:
                return self.never_listened(box)
            host, port = address
            netns_pid = box.proc.pid if box.netns else None
            per_case = max(1.0, ctx.limits.wall_seconds / max(1, len(self.cases)) - 0.5)
            passed = 0
            cap = ctx.capture(port, netns_pid)
            try:
                for res in self.run_cases(ctx, host, port, netns_pid, per_case, box):
                    outcome.cases.append(res)
                    passed += res.passed
            finally:
                if cap is not None:
                    cap.finish()
        finally:
            result = box.wait(0.05)  # still serving: this stops it (SIGTERM, grace, SIGKILL)
        outcome.stdout = neutralize(result.stdout, total=result.stdout_total)
        outcome.stderr = neutralize(result.stderr, total=result.stderr_total)
        if result.status in ("memory_limit", "cpu_limit", "process_limit", "grader_error"):
            outcome.status, outcome.message = result.status, result.message
            return outcome
        total = len(outcome.cases) or len(self.cases)
        outcome.fraction = passed / total
        if passed == total:
            outcome.status, outcome.fraction = "passed", 1.0
        else:
            outcome.message = f"{passed} of {total} cases passed"
        return outcome

    def run_cases(self, ctx: Context, host: str, port: int, netns_pid: int | None, per_case: float, box: Sandbox):
        """Yield one CaseResult per case against the running server (subclasses: other
        conversations, e.g. several requests on one connection, or many connections)."""
        for case in self.cases:
            ex = exchange(host, port, case.data, per_case, netns_pid)
            yield self.judge(ctx, case, ex)

    @staticmethod
    def never_listened(box: Sandbox) -> CheckOutcome:
        """Stop a server that never printed its listening line, and say how it ended:
        even a clean exit (status 0) is named, or the student sees no clue at all."""
        box.stop()
        result = box.wait(0.1)
        outcome = CheckOutcome(status="crashed" if result.status in ("ok", "crashed") else result.status)
        how = result.message or f"exited with status {result.returncode}"
        outcome.message = f"the server never printed `listening on http://HOST:PORT` ({how})"
        if b"Address already in use" in result.stderr:
            outcome.message += ". " + feedback.hint_for("address_in_use")
        outcome.stdout = neutralize(result.stdout, total=result.stdout_total)
        outcome.stderr = neutralize(result.stderr, total=result.stderr_total)
        return outcome

    @staticmethod
    def _wait_listening(box: Sandbox, timeout: float) -> tuple[str, int] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTENING.search(bytes(box._out.kept))
            if m:
                return m.group(1).decode(), int(m.group(2))
            if box.proc.poll() is not None:
                time.sleep(0.05)  # let the capture thread drain the last line
                m = LISTENING.search(bytes(box._out.kept))
                return (m.group(1).decode(), int(m.group(2))) if m else None
            time.sleep(0.02)
        return None

    def judge(self, ctx: Context, case: ServerCase, ex: Exchange) -> CaseResult:
        expected = f"HTTP/1.1 {case.status} ..." + "".join(f"\\r\\n{n.decode()}: {v.decode()}" for n, v in case.headers)
        res = CaseResult(
            id=case.id, passed=False, sent=feedback.escape(case.data), received=feedback.escape(ex.received),
            expected=expected, rule=case.rule,
        )
        start = " ".join(["python -m lab.grade.serve --exercise", ctx.manifest.id, "--submission",
                          str(ctx.origin or ctx.submission), "--", "serve", *self.serve_args, "--port 8080"])
        res.reproduce = f"{start} &  {feedback.nc_reproduction(case.data, 8080)}"
        problem = None
        if ex.error_class and ex.error_class != "extra_bytes" and not ex.head:
            problem = ex.error_class
        elif ex.head.get("status") != case.status:
            got_status = ex.head.get("status") or 0
            problem = "accepted_bad_input" if got_status < 400 <= case.status else "wrong_status"
            want = f"HTTP/1.1 {case.status}".encode()
            got = ex.received[: len(want)]
            col = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
            res.caret_in, res.caret = "received", feedback.escaped_offset(ex.received, col)
        else:
            names = ex.head.get("headers", [])
            for name, value in case.headers:
                if (name.lower(), value) not in [(n, v) for n, v in names]:
                    problem = "header"
                    res.hint = f"the response needs the header field `{name.decode()}: {value.decode()}`"
                    break
            if problem is None and ex.error_class:
                problem = ex.error_class
            if problem is None and case.body_check is not None:
                why = case.body_check(ex.head.get("body", b""))
                if why:
                    problem, res.hint = "body", why
        if problem is None:
            res.passed = True
        elif not res.hint:
            res.hint = feedback.hint_for(problem) or problem
        if ex.detail:
            res.received += f"  ({ex.detail})"
        return res
