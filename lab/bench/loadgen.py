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
Responses are read by the lab's own strict `protocols.http1.ResponseParser`: a server
that sends something malformed is counted as an error, never as a success.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import math
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from protocols.errors import HTTPError
from protocols.http1 import Data, EndOfMessage, ResponseParser
from protocols.http1 import Response as ParsedHead

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


class ResponseError(Exception):
    """The server sent bytes that are not a valid HTTP/1.1 response."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool


class ResponseReader:
    """Feed bytes, get complete final responses: `protocols.http1.ResponseParser` (the
    lab's strict client-side parser, RFC 9112 §4 and §6.3) driven to EndOfMessage.

    Only GETs are sent, so no `expect()` calls are needed (the parser assumes GET).
    A malformed response raises `ResponseError`: the load generator counts it as an
    error, never as a success.
    """

    def __init__(self) -> None:
        self._parser = ResponseParser()
        self._head: ParsedHead | None = None
        self._keep_alive = True
        self._body: list[bytes] = []

    def feed(self, data: bytes) -> list[Response]:
        parser = self._parser
        parser.receive_data(data)
        done: list[Response] = []
        while True:
            try:
                event = parser.next_event()
            except HTTPError as exc:
                raise ResponseError(exc.message) from None
            kind = type(event)
            if kind is ParsedHead:
                self._head, self._keep_alive = event, parser.keep_alive
            elif kind is Data:
                self._body.append(event.data)
            elif kind is EndOfMessage:
                head = self._head
                if head is not None and head.status >= 200:  # 1xx are interim
                    done.append(Response(head.status, head.headers, b"".join(self._body), self._keep_alive))
                self._head, self._body = None, []
            else:  # NEED_DATA, or ConnectionClosed: the transport reports the close
                return done


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
    """`served` resolves to the status of the one response, or to the error that stopped
    it: a result, never an exception, so an unwaited future never logs at exit."""

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
                self.served.set_result(exc)
            return
        if responses and not self.served.done():
            self.served.set_result(responses[0].status)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.served.done():
            self.served.set_result(ConnectionError("closed before the response"))


async def hold_idle(host: str, port: int, path: str, count: int, setup_timeout: float,
                    emit=print) -> None:
    """Open `count` connections, one served request each, then hold them until SIGTERM."""
    loop = asyncio.get_running_loop()
    request = build_request(host, port, path)
    gate = asyncio.Semaphore(256)  # connect in waves: a SYN flood would overflow the backlog
    held: list[_HoldConnection] = []
    outcome = {"served": 0, "failed": 0, "timed_out": 0}

    async def one() -> None:
        async with gate:  # only the connects are gated, not the wait for the answer
            remaining = deadline - loop.time()
            if remaining <= 0:
                outcome["timed_out"] += 1
                return
            try:
                # A server that does not accept fills its listen backlog; after that the
                # kernel drops our SYNs and retries them for minutes: bound the wait.
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: _HoldConnection(request), host, port), remaining)
            except asyncio.TimeoutError:
                outcome["timed_out"] += 1
                return
            except OSError:
                outcome["failed"] += 1
                return
        held.append(conn)
        try:
            answer = await asyncio.wait_for(asyncio.shield(conn.served), deadline - loop.time())
        except asyncio.TimeoutError:
            outcome["timed_out"] += 1  # connected, but not served in time
            return
        outcome["served" if isinstance(answer, int) else "failed"] += 1

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
