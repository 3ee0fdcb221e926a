"""Benchmark legs for push: SSE/WebSocket fan-out, and the push legs of "patterns".

Functions a `lab bench` scenario calls against a server that is already listening; each
runs its clients on one asyncio loop (uvloop when installed) and returns a result
dataclass (`.as_dict()` for a report row).

    run_fanout(address, kind="sse", subscribers=1000, messages=100, size=64)
        N subscribers, M messages published one after another on a keep-alive POST
        connection. `events_per_second` = N*M / (first publish sent -> last subscriber
        got the last message); `last_delivery` = last publish sent -> last subscriber
        got it. `verify=True` parses every event (the spec's parser, JSON for
        WebSocket) and checks offsets and data in order; `verify=False` only counts
        event terminators / frames, so the client costs less than the server.

    run_push_leg(address, kind="sse", messages=20, size=64, interval=0.05)
        One subscriber; messages published one at a time, each waited for, one per
        `interval` s. Reports the subscriber's requests (1: the GET, or the Upgrade), its
        bytes on the wire (application bytes both ways, heads included, TCP/IP headers
        not) and the delivery latency of each message (POST sent -> event parsed), with
        the fields of `lab.patterns.probe.DeliveryResult` so the four patterns share a
        table.

    python -m lab.clients.push_bench fanout|sse|ws --port P [...] prints one JSON line.

The client shares the machine with the server: on 2 cores the figures are a floor for
the server, and `verify=False` is the fairer fan-out number.
"""
from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field

from protocols.errors import WebSocketError
from protocols.http1 import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, ResponseParser, format_request,
)
from protocols.sse import EventStreamParser
from protocols.websocket import END_OF_STREAM, Message
from protocols.websocket import NEED_DATA as WS_NEED_DATA

from .push import Wire, open_sse, open_websocket, read_head

__all__ = ["FanoutResult", "LegResult", "fanout", "run_fanout", "push_leg", "run_push_leg",
           "payload"]

Address = tuple[str, int]
# Connections opened at once while subscribing: well inside the listen backlog.
CONNECT_CONCURRENCY = 200


def payload(index: int, size: int) -> bytes:
    """Message `index` (1-based), `size` bytes of printable ASCII, no line break."""
    head = b"m%d " % index
    return (head + b"x" * max(0, size - len(head)))[:max(size, 0)] if size else b""


@dataclass
class FanoutResult:
    kind: str
    subscribers: int
    messages: int
    size: int
    delivered: int  # events received, all subscribers together
    seconds: float  # first publish sent -> last subscriber got the last message
    events_per_second: float
    last_delivery: float  # last publish sent -> last subscriber got it
    connect_seconds: float  # to open and subscribe every subscriber
    complete: bool  # every subscriber got every message, in order, none twice
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class LegResult:
    """One push leg of "patterns"; the same fields as `lab.patterns.probe.DeliveryResult`
    (the polling legs), so the four delivery patterns fill one table."""

    mode: str  # "sse" or "ws"
    messages: int  # published
    delivered: int  # received by the subscriber
    requests: int  # the subscriber's requests: 1, the GET or the Upgrade
    bytes_sent: int  # the subscriber's bytes (request, handshake, Pongs)
    bytes_received: int  # the subscriber's bytes received (response head included)
    latencies: list[float] = field(default_factory=list)  # seconds, per message
    size: int = 0  # bytes per message

    @property
    def median_latency(self) -> float | None:
        return statistics.median(self.latencies) if self.latencies else None

    @property
    def bytes_per_message(self) -> float:
        return (self.bytes_sent + self.bytes_received) / max(self.delivered, 1)

    def as_dict(self) -> dict:
        lat = sorted(self.latencies) or [0.0]
        return asdict(self) | {
            "median_latency": self.median_latency,
            "bytes_per_message": round(self.bytes_per_message, 1),
            "latency_p50_ms": round(1000 * statistics.median(lat), 3),
            "latency_p99_ms": round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
            "latency_mean_ms": round(1000 * statistics.fmean(lat), 3),
        }


# -- subscribers -------------------------------------------------------------------------

class _Subscriber:
    """One subscriber's progress: what it got, when it got the last message."""

    __slots__ = ("got", "done_at", "error")

    def __init__(self) -> None:
        self.got = 0
        self.done_at = 0.0
        self.error = ""


async def _sse_subscriber(host: str, port: int, topic: str, expect: list[bytes],
                          verify: bool, sub: _Subscriber, ready: asyncio.Future) -> None:
    wire, parser = await open_sse(host, port, topic)
    ready.set_result(None)
    total = len(expect)
    events = EventStreamParser()
    carry = b""
    try:
        while sub.got < total:
            event = parser.next_event()
            if event is NEED_DATA:
                parser.receive_data(await wire.read())
                continue
            if not isinstance(event, Data):
                raise ConnectionError(f"stream ended after {sub.got} events")
            if verify:
                for ev in events.receive_data(event.data):
                    want = sub.got + 1
                    if ev.last_event_id != str(want) or ev.data.encode() != expect[want - 1]:
                        raise AssertionError(f"event {want}: got id {ev.last_event_id!r}")
                    sub.got = want
            else:
                chunk = carry + event.data
                sub.got += chunk.count(b"\n\n")
                carry = chunk[-1:]
        sub.done_at = time.perf_counter()
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the others go on
        sub.error = f"{type(exc).__name__}: {exc}"
    finally:
        wire.close()


async def _ws_subscriber(host: str, port: int, topic: str, expect: list[bytes],
                         verify: bool, sub: _Subscriber, ready: asyncio.Future) -> None:
    wire, ws = await open_websocket(host, port, f"/topics/{topic}/ws")
    ready.set_result(None)
    total = len(expect)
    try:
        if not verify:
            await _count_frames(wire, wire.leftover, sub, total)
        while sub.got < total:
            event = ws.next_event()
            out = ws.data_to_send()
            if out:
                wire.write(out)
            if event is WS_NEED_DATA:
                ws.receive_data(await wire.read())
                continue
            if event is END_OF_STREAM:
                raise ConnectionError(f"closed after {sub.got} messages")
            if isinstance(event, Message):
                want = sub.got + 1
                view = json.loads(event.data)
                if view["offset"] != want or view["data"].encode() != expect[want - 1]:
                    raise AssertionError(f"message {want}: got offset {view['offset']}")
                sub.got = want
        sub.done_at = time.perf_counter()
    except (Exception, WebSocketError) as exc:  # noqa: BLE001
        sub.error = f"{type(exc).__name__}: {exc}"
    finally:
        wire.close()


async def _count_frames(wire: Wire, buffered: bytes, sub: _Subscriber, total: int) -> None:
    """Count the server's data frames by their headers alone (unmasked, RFC 6455 §5.2):
    the cheap reader for `verify=False`, so the client costs less than the server."""
    buf = bytearray(buffered)
    pos = 0
    while sub.got < total:
        while True:
            if len(buf) - pos < 2:
                break
            first, second = buf[pos], buf[pos + 1] & 0x7F
            head = 2
            if second == 126:
                if len(buf) - pos < 4:
                    break
                second, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif second == 127:
                if len(buf) - pos < 10:
                    break
                second, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if len(buf) - pos < head + second:
                break
            pos += head + second
            if first & 0x0F in (1, 2) and first & 0x80:
                sub.got += 1
        del buf[:pos]
        pos = 0
        if sub.got >= total:
            break
        data = await wire.read()
        if not data:
            raise ConnectionError(f"closed after {sub.got} messages")
        buf += data
    sub.done_at = time.perf_counter()


# -- the publisher ----------------------------------------------------------------------

class _Publisher:
    """POST /topics/{t} on one keep-alive connection, one request at a time."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.host, self.port, self.topic = host, port, topic

    async def open(self) -> None:
        self.wire = await Wire.open(self.host, self.port)
        self.parser = ResponseParser()
        self.target = f"/topics/{self.topic}".encode()
        self.host_header = f"{self.host}:{self.port}".encode()

    def send(self, data: bytes) -> None:
        self.parser.expect(b"POST")
        self.wire.write(format_request(b"POST", self.target, [(b"Host", self.host_header)], data))

    async def answer(self) -> int:
        head = await read_head(self.wire, self.parser)
        body = b""
        while True:
            event = self.parser.next_event()
            if event is NEED_DATA:
                self.parser.receive_data(await self.wire.read())
            elif isinstance(event, Data):
                body += event.data
            elif isinstance(event, (EndOfMessage, ConnectionClosed)):
                break
        if head.status != 201:
            raise RuntimeError(f"publish answered {head.status}: {body[:200]!r}")
        return json.loads(body)["offset"]

    def close(self) -> None:
        self.wire.close()


# -- fan-out ------------------------------------------------------------------------------

async def fanout(host: str, port: int, *, kind: str = "sse", subscribers: int = 1000,
                 messages: int = 100, size: int = 64, topic: str | None = None,
                 verify: bool = True, burst: bool = True, timeout: float = 120.0
                 ) -> FanoutResult:
    """N subscribers (`kind` "sse" or "ws") of a fresh topic each receive M messages.
    `burst`: the M POSTs are pipelined on one connection (published as fast as the
    server reads them); else each waits for its 201 before the next is sent."""
    topic = topic or f"fanout-{kind}-{os.getpid()}-{time.monotonic_ns()}"
    expect = [payload(i, size) for i in range(1, messages + 1)]
    subscriber = {"sse": _sse_subscriber, "ws": _ws_subscriber}[kind]
    subs = [_Subscriber() for _ in range(subscribers)]
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task] = []

    async def start(sub: _Subscriber) -> None:
        async with gate:
            ready = loop.create_future()
            tasks.append(asyncio.create_task(
                subscriber(host, port, topic, expect, verify, sub, ready)))
            await asyncio.wait([ready, tasks[-1]], return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                tasks[-1].result()  # raise what went wrong while connecting

    started = time.perf_counter()
    await asyncio.gather(*(start(sub) for sub in subs))
    connected = time.perf_counter()
    publisher = _Publisher(host, port, topic)
    await publisher.open()
    first = time.perf_counter()
    last_sent = first
    if burst:
        for data in expect:
            publisher.send(data)
        last_sent = time.perf_counter()
        for _ in expect:
            await publisher.answer()
    else:
        for data in expect:
            last_sent = time.perf_counter()
            publisher.send(data)
            await publisher.answer()
    publisher.close()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    except asyncio.TimeoutError:
        for task in tasks:
            task.cancel()
    delivered = sum(sub.got for sub in subs)
    errors = [sub.error for sub in subs if sub.error]
    complete = not errors and delivered == subscribers * messages
    done = max((sub.done_at for sub in subs), default=first) if complete else time.perf_counter()
    seconds = max(done - first, 1e-9)
    return FanoutResult(kind, subscribers, messages, size, delivered, seconds,
                        delivered / seconds, max(done - last_sent, 0.0),
                        connected - started, complete, errors[:10])


def _run(coro):
    try:
        import uvloop
        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a lab dependency
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def run_fanout(address: Address, *, kind: str = "sse", subscribers: int = 1000,
               messages: int = 100, size: int = 64, verify: bool = False,
               burst: bool = True, timeout: float = 120.0) -> FanoutResult:
    """`fanout` on a fresh loop (uvloop). Raise the open-files limit first for N > ~1000
    (`lab.io.listener.raise_fd_limit`)."""
    from lab.io.listener import raise_fd_limit
    raise_fd_limit()
    return _run(fanout(address[0], address[1], kind=kind, subscribers=subscribers,
                       messages=messages, size=size, verify=verify, burst=burst,
                       timeout=timeout))


# -- the push legs of "patterns" ---------------------------------------------------------

async def push_leg(host: str, port: int, *, kind: str = "sse", messages: int = 20,
                   size: int = 64, interval: float = 0.05, topic: str | None = None,
                   timeout: float = 10.0) -> LegResult:
    """One subscriber; each message is published, then waited for (its latency), then
    `interval` s pass (the polling legs' publisher also posts one per 0.05 s)."""
    topic = topic or f"leg-{kind}-{os.getpid()}-{time.monotonic_ns()}"
    if kind == "sse":
        wire, parser = await open_sse(host, port, topic)
        events = EventStreamParser()
        pending: list = []

        async def next_message() -> bytes:
            while not pending:
                event = parser.next_event()
                if event is NEED_DATA:
                    parser.receive_data(await wire.read())
                elif isinstance(event, Data):
                    pending.extend(events.receive_data(event.data))
                else:
                    raise ConnectionError("SSE stream ended")
            return pending.pop(0).data.encode()
    elif kind == "ws":
        wire, ws = await open_websocket(host, port, f"/topics/{topic}/ws")

        async def next_message() -> bytes:
            while True:
                event = ws.next_event()
                out = ws.data_to_send()
                if out:
                    wire.write(out)
                if event is WS_NEED_DATA:
                    ws.receive_data(await wire.read())
                elif isinstance(event, Message):
                    return json.loads(event.data)["data"].encode()
                elif event is END_OF_STREAM:
                    raise ConnectionError("WebSocket closed")
    else:
        raise ValueError(f"unknown push pattern {kind!r}: sse or ws")
    publisher = _Publisher(host, port, topic)
    await publisher.open()
    latencies: list[float] = []
    try:
        for i in range(1, messages + 1):
            data = payload(i, size)
            sent = time.perf_counter()
            publisher.send(data)
            got = await asyncio.wait_for(next_message(), timeout)
            latencies.append(time.perf_counter() - sent)
            if got != data:
                raise AssertionError(f"message {i}: got {got[:40]!r}")
            await publisher.answer()
            if interval:
                await asyncio.sleep(interval)
    finally:
        publisher.close()
        wire.close()
    return LegResult(kind, messages, len(latencies), 1, wire.sent, wire.received, latencies,
                     size)


def run_push_leg(address: Address, *, kind: str = "sse", messages: int = 20,
                 size: int = 64, interval: float = 0.05) -> LegResult:
    """`push_leg` on a fresh loop (uvloop)."""
    return _run(push_leg(address[0], address[1], kind=kind, messages=messages, size=size,
                         interval=interval))


def main(argv: list[str] | None = None) -> int:
    """`python -m lab.clients.push_bench fanout|sse|ws --port P [...]`: one JSON line,
    like `lab.patterns.probe` (what `lab bench`'s `Bench.client` runs)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lab.clients.push_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("fanout", "sse", "ws"),
                        help="fanout: N subscribers, M messages; sse/ws: one push leg")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--kind", choices=("sse", "ws"), default="sse", help="fanout: which push")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=None,
                        help="messages published (default: fanout 100, a leg 20)")
    parser.add_argument("--size", type=int, default=64, help="bytes per message")
    parser.add_argument("--interval", type=float, default=0.05, help="a leg: s between messages")
    parser.add_argument("--verify", action="store_true", help="fanout: parse and check every event")
    parser.add_argument("--sequential", action="store_true",
                        help="fanout: wait for each 201 before the next publish")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    address = (args.host, args.port)
    if args.what == "fanout":
        result = run_fanout(address, kind=args.kind, subscribers=args.subscribers,
                            messages=args.messages or 100, size=args.size, verify=args.verify,
                            burst=not args.sequential, timeout=args.timeout).as_dict()
    else:
        result = run_push_leg(address, kind=args.what, messages=args.messages or 20,
                              size=args.size, interval=args.interval).as_dict()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
