"""The lab's own load generator: keep-alive HTTP/1.1 clients on one asyncio loop (uvloop).

It runs in its own process, started by the harness and pinned to a CPU the server does
not use, so that what it costs is not charged to the server. Three jobs, one per
subcommand, each printing JSON lines on stdout:

* `load`: N keep-alive connections, each sending its next GET as soon as the previous
  response is complete (a closed loop, like wrk). A warm-up comes first; the line
  `{"event": "measuring"}` marks the start of the measured window, so the harness can
  read the server's CPU counters at the same instant. Latency is measured per request,
  from the write of the request to the last byte of its response.
* `hold`: open N connections, send one GET on each and read its response (so the server
  has really accepted and served it), then keep them open and silent until SIGTERM.
* `probe`: a fresh client: connect, send M requests one after another, report how long
  the first one (connect included) and the rest took.

Each connection is an `asyncio.Protocol`, not a stream: callbacks, no coroutine per
request, which is what lets one Python core drive tens of thousands of requests/s.
Responses are read by `ResponseReader`, a minimal strict reader of its own (status
line, header fields, Content-Length framing): a server that sends something malformed
is counted as an error, never as a success.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import math
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

__all__ = [
    "percentile",
    "latency_summary",
    "ResponseReader",
    "Response",
    "ResponseError",
    "LoadResult",
    "run_load",
    "main",
]

# --------------------------------------------------------------------- percentiles


def percentile(sorted_values: list[float] | array.array, p: float) -> float:
    """The nearest-rank percentile: the smallest value with at least p% of values <= it.

    `sorted_values` must be sorted ascending. p=50 of [1, 2, 3, 4] is 2; p=99 of a
    hundred values 1..100 is 99; p=100 is the maximum. The nearest rank is always an
    observed value (no interpolation), which is what wrk and HdrHistogram report too.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    rank = math.ceil(p / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def latency_summary(latencies: list[float] | array.array) -> dict[str, float | None]:
    """p50/p90/p99/max/mean in milliseconds, rounded to the microsecond."""
    if not latencies:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    ordered = sorted(latencies)

    def ms(seconds: float) -> float:
        return round(seconds * 1000, 3)

    return {
        "p50_ms": ms(percentile(ordered, 50)),
        "p90_ms": ms(percentile(ordered, 90)),
        "p99_ms": ms(percentile(ordered, 99)),
        "max_ms": ms(ordered[-1]),
        "mean_ms": ms(sum(ordered) / len(ordered)),
    }


# ------------------------------------------------------------------ response reader

# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-9][0-9]{2}) [\t \x21-\x7e\x80-\xff]*")
# RFC 9110 §5.1, §5.5: field-name = token; no whitespace before the colon; the value
# holds no CR, LF or NUL. Optional whitespace around the value is not part of it.
_FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t \x21-\x7e\x80-\xff]*?)[\t ]*")
# A response head this large from a hello-world server is a bug, not a load.
MAX_HEAD_BYTES = 64 * 1024


class ResponseError(Exception):
    """The server sent bytes that are not a valid HTTP/1.1 response."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        for name, value in self.headers:
            if name.lower() == b"connection" and b"close" in value.lower():
                return False
        return True


class ResponseReader:
    """Feed bytes, get complete responses. Content-Length framing only, checked strictly.

    Not a general client parser (no chunked bodies, no read-until-close bodies): the
    harness only reads hello-world-sized answers. The lead's
    `protocols.http1.ResponseParser` will replace it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # where to resume looking for the blank line: never rescan
        self._head: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self._body_length = 0

    def feed(self, data: bytes) -> list[Response]:
        self._buf += data
        done: list[Response] = []
        while True:
            response = self._next()
            if response is None:
                return done
            if response.status >= 200:  # 1xx are interim: the real answer follows
                done.append(response)

    def _next(self) -> Response | None:
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n", self._scan)
            if end < 0:
                self._scan = max(0, len(self._buf) - 3)
                if len(self._buf) > MAX_HEAD_BYTES:
                    raise ResponseError(f"response head longer than {MAX_HEAD_BYTES} bytes")
                return None
            head = bytes(self._buf[:end])
            del self._buf[: end + 4]
            self._scan = 0
            self._head = self._parse_head(head)
        status, headers = self._head
        if len(self._buf) < self._body_length:
            return None
        body = bytes(self._buf[: self._body_length])
        del self._buf[: self._body_length]
        self._head = None
        return Response(status, headers, body)

    def _parse_head(self, head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
        lines = head.split(b"\r\n")
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise ResponseError(f"bad status line {lines[0][:80]!r}")
        status = int(match.group(1))
        headers: list[tuple[bytes, bytes]] = []
        lengths: set[bytes] = set()
        for line in lines[1:]:
            field_match = _FIELD_LINE.fullmatch(line)
            if field_match is None:
                raise ResponseError(f"bad header line {line[:80]!r}")
            name, value = field_match.groups()
            headers.append((name, value))
            lowered = name.lower()
            if lowered == b"content-length":
                lengths.add(value)
            elif lowered == b"transfer-encoding":
                raise ResponseError("Transfer-Encoding in a response: this minimal reader "
                                    "reads Content-Length bodies only")
        # RFC 9110 §6.4.1: 1xx, 204 and 304 responses have no content.
        if status < 200 or status in (204, 304):
            self._body_length = 0
        elif len(lengths) != 1 or not next(iter(lengths)).isdigit():
            raise ResponseError(f"missing, differing or malformed Content-Length {sorted(lengths)}")
        else:
            self._body_length = int(next(iter(lengths)))
        return status, headers


def build_request(host: str, port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: lab-loadgen\r\n\r\n".encode()


# ----------------------------------------------------------------------- load runs


@dataclass
class LoadResult:
    connections: int
    duration_s: float
    requests: int
    statuses: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latency: dict[str, float | None] = field(default_factory=dict)
    stalled: int = 0  # connections whose request was still unanswered after `timeout`
    loop: str = ""

    @property
    def rps(self) -> float:
        return round(self.requests / self.duration_s, 1) if self.duration_s else 0.0

    def to_json(self) -> dict:
        return {"event": "result", "tool": "loadgen", "rps": self.rps, **self.__dict__}


class _Run:
    """What all connections of one load run share: the clock, the counters, the stop flag."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.measuring = False
        self.stopping = False
        self.latencies = array.array("d")
        self.statuses: dict[str, int] = {}
        self.errors: dict[str, int] = {}

    def record(self, seconds: float, status: int) -> None:
        if self.measuring:
            self.latencies.append(seconds)
            key = str(status)
            self.statuses[key] = self.statuses.get(key, 0) + 1

    def error(self, kind: str) -> None:
        if not self.stopping:
            self.errors[kind] = self.errors.get(kind, 0) + 1


class _LoadConnection(asyncio.Protocol):
    def __init__(self, run: _Run) -> None:
        self.run = run
        self.reader = ResponseReader()
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.waiting = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:  # one write per request, never wait for Nagle (FACTS.md)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send()

    def send(self) -> None:
        self.sent_at = time.perf_counter()
        self.waiting = True
        self.transport.write(self.run.request)

    def data_received(self, data: bytes) -> None:
        try:
            responses = self.reader.feed(data)
        except ResponseError:
            self.run.error("bad response")
            self.transport.close()
            return
        for response in responses:
            self.waiting = False
            self.run.record(time.perf_counter() - self.sent_at, response.status)
            if self.run.stopping:
                self.transport.close()
                return
            if not response.keep_alive:
                self.run.error("server closed keep-alive")
                self.transport.close()
                return
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting:
            self.run.error("connection lost")
        if not self.closed.done():
            self.closed.set_result(None)


async def _keep_connected(run: _Run, host: str, port: int, slot: list[_LoadConnection]) -> None:
    """One client slot: connect, and reconnect whenever the server drops us."""
    loop = asyncio.get_running_loop()
    while not run.stopping:
        try:
            _, conn = await loop.create_connection(lambda: _LoadConnection(run), host, port)
        except OSError:
            run.error("connect failed")
            await asyncio.sleep(0.05)
            continue
        slot[0] = conn
        await conn.closed


async def run_load(host: str, port: int, path: str, connections: int, duration: float,
                   warmup: float = 1.0, timeout: float = 2.0, on_measuring=None) -> LoadResult:
    """Drive `connections` keep-alive clients for `warmup` + `duration` seconds."""
    run = _Run(build_request(host, port, path))
    slots: list[list] = [[None] for _ in range(connections)]
    tasks = [asyncio.ensure_future(_keep_connected(run, host, port, s)) for s in slots]
    await asyncio.sleep(warmup)
    run.measuring = True
    if on_measuring is not None:
        on_measuring()
    started = time.perf_counter()
    await asyncio.sleep(duration)
    run.measuring = False
    elapsed = time.perf_counter() - started
    now = time.perf_counter()
    stalled = sum(1 for s in slots if s[0] is not None and s[0].waiting and now - s[0].sent_at > timeout)
    stalled += sum(1 for s in slots if s[0] is None)  # never even connected
    run.stopping = True
    for s in slots:
        if s[0] is not None and s[0].transport is not None:
            s[0].transport.abort()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return LoadResult(
        connections=connections, duration_s=round(elapsed, 3), requests=len(run.latencies),
        statuses=run.statuses, errors=run.errors, latency=latency_summary(run.latencies),
        stalled=stalled, loop=type(asyncio.get_running_loop()).__module__,
    )


# ------------------------------------------------------------------ idle holders


class _HoldConnection(asyncio.Protocol):
    def __init__(self, request: bytes) -> None:
        self.request = request
        self.reader = ResponseReader()
        self.transport: asyncio.Transport | None = None
        self.served = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        try:
            responses = self.reader.feed(data)
        except ResponseError as exc:
            if not self.served.done():
                self.served.set_exception(exc)
            return
        if responses and not self.served.done():
            self.served.set_result(responses[0].status)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.served.done():
            self.served.set_exception(ConnectionError("closed before the response"))


async def hold_idle(host: str, port: int, path: str, count: int, setup_timeout: float,
                    emit=print) -> None:
    """Open `count` connections, one served request each, then hold them until SIGTERM."""
    loop = asyncio.get_running_loop()
    request = build_request(host, port, path)
    gate = asyncio.Semaphore(256)  # connect in waves: a SYN flood would overflow the backlog
    held: list[_HoldConnection] = []
    outcome = {"served": 0, "failed": 0, "timed_out": 0}

    async def one() -> None:
        async with gate:
            try:
                _, conn = await loop.create_connection(lambda: _HoldConnection(request), host, port)
            except OSError:
                outcome["failed"] += 1
                return
            held.append(conn)
            try:
                await asyncio.wait_for(asyncio.shield(conn.served), deadline - loop.time())
                outcome["served"] += 1
            except asyncio.TimeoutError:
                outcome["timed_out"] += 1
            except (ResponseError, ConnectionError):
                outcome["failed"] += 1

    started = loop.time()
    deadline = started + setup_timeout
    await asyncio.gather(*(one() for _ in range(count)))
    emit(json.dumps({"event": "ready", "requested": count, "open": len(held),
                     "setup_s": round(loop.time() - started, 3), **outcome}))
    sys.stdout.flush()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for conn in held:
        if conn.transport is not None:
            conn.transport.abort()


async def probe(host: str, port: int, path: str, requests: int, timeout: float) -> dict:
    """A fresh client: connect, then `requests` GETs in a row on that one connection."""
    loop = asyncio.get_running_loop()
    request = build_request(host, port, path)
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as exc:
        return {"event": "probe", "served": 0, "error": f"connect: {exc!r}"}
    latencies: list[float] = []
    parser = ResponseReader()
    first_ms = None
    error = None
    try:
        for i in range(requests):
            sent = time.perf_counter()
            writer.write(request)
            got: list[Response] = []
            while not got:
                data = await asyncio.wait_for(reader.read(65536), timeout)
                if not data:
                    raise ConnectionError("server closed the connection")
                got = parser.feed(data)
            now = time.perf_counter()
            latencies.append(now - sent)
            if i == 0:
                first_ms = round((now - started) * 1000, 3)
    except asyncio.TimeoutError:
        error = f"no response within {timeout:g}s"
    except (OSError, ResponseError) as exc:
        error = repr(exc)
    finally:
        writer.transport.abort()
    del loop
    return {"event": "probe", "served": len(latencies), "first_ms": first_ms,
            "error": error, **latency_summary(latencies)}


# ------------------------------------------------------------------------ process


def _emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _run(coro) -> object:
    try:
        import uvloop
    except ImportError:  # the plain asyncio loop works too, only slower
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.loadgen", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="job", required=True)
    for name in ("load", "hold", "probe"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--path", default="/")
        p.add_argument("--timeout", type=float, default=2.0)
    sub.choices["load"].add_argument("--connections", type=int, default=64)
    sub.choices["load"].add_argument("--duration", type=float, default=5.0)
    sub.choices["load"].add_argument("--warmup", type=float, default=1.0)
    sub.choices["hold"].add_argument("--count", type=int, default=1000)
    sub.choices["probe"].add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    _raise_fd_limit()
    if args.job == "load":
        result = _run(run_load(args.host, args.port, args.path, args.connections, args.duration,
                               args.warmup, args.timeout, lambda: _emit({"event": "measuring"})))
        _emit(result.to_json())
    elif args.job == "hold":
        _run(hold_idle(args.host, args.port, args.path, args.count, args.timeout, print))
    else:
        _emit(_run(probe(args.host, args.port, args.path, args.requests, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
