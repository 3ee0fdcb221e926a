"""The SSE fan-out load: N event-stream subscribers and a publisher, on one uvloop loop.

    python -m lab.bench.sse_load --port P --subscribers 1000 --messages 100 [--burst 10]

It runs in its own process on the load CPU (started by `lab bench --scenario sse-fanout`)
and talks to the harness in steps, one JSON line each on stdout, so that the harness can
read the server's CPU counters around exactly the publishing and delivering:

1. open N connections, `GET /topics/{t}/events` on each, read each `200` head; then
   print `{"event": "subscribed", "subscribed": n, ...}` (n < N: the server could not
   hold them all within `--setup-timeout`; the result line follows at once);
2. wait for a line on stdin (`go`): the harness has sampled the server's CPU;
3. publish M messages on one keep-alive connection, `--burst` pipelined
   `POST /topics/{t}` at a time (the next burst once the last one's `201`s are in);
4. when every subscriber has every message (or `--timeout` passes) print
   `{"event": "result", ...}`; then hold the connections until stdin closes, so the
   server's teardown work is not charged to the delivery.

Every subscriber is an `asyncio.Protocol` (callbacks, no coroutine per read) whose HTTP
response is read by `protocols.http1.ResponseParser` (the chunked framing). `--parse K`
subscribers read their events with the spec's parser, `protocols.sse.EventStreamParser`,
and check every id and data in order; the others count events by their `id:` lines.
Parsing costs ~13 us per event here: a client that parsed all of them would measure
itself (one Python core tops out near 75k events/s), not the server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time

from protocols.http1 import NEED_DATA, Data, EndOfMessage, ResponseParser, format_request
from protocols.http1 import Response as ResponseHead
from protocols.sse import Event, EventStreamParser

__all__ = ["payload", "count_ids", "Subscriber", "run", "main"]

CONNECT_CONCURRENCY = 200  # connects in flight: far inside the server's listen backlog
ID_LINE = b"\nid: "  # each event the lab sends has an id (its offset) line


def payload(index: int, size: int) -> bytes:
    """Message `index`: `size` bytes of printable ASCII, no line break, index first."""
    head = b"m%d " % index
    return (head + b"x" * max(0, size - len(head)))[:size]


def count_ids(carry: bytes, data: bytes) -> tuple[int, bytes]:
    """Events in `data` counted by their `id:` lines; `carry` is the tail of the stream
    before it (start a stream with b"\\n"). Returns (count, the new carry)."""
    chunk = carry + data
    return chunk.count(ID_LINE), chunk[-(len(ID_LINE) - 1):]


class Subscriber(asyncio.Protocol):
    """One event stream: counts (or parses and checks) events, notes the last's arrival."""

    def __init__(self, request: bytes, expect: list[bytes] | None, wanted: int) -> None:
        self.request = request
        self.expect = expect  # payloads to check in order; None: count only
        self.wanted = wanted
        self.parser = ResponseParser()
        self.parser.expect(b"GET")
        self.events = EventStreamParser() if expect is not None else None
        self.carry = b"\n"
        self.got = 0
        self.done_at = 0.0
        self.error = ""
        self.transport: asyncio.Transport | None = None
        self.subscribed = asyncio.get_running_loop().create_future()
        self.finished = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        parser.receive_data(data)
        try:
            while (event := parser.next_event()) is not NEED_DATA:
                kind = type(event)
                if kind is Data:
                    self._events(event.data)
                elif kind is ResponseHead:
                    if event.status != 200:
                        raise ConnectionError(f"GET events answered {event.status}")
                    kind_of = next((v for n, v in event.headers if n.lower() == b"content-type"), b"")
                    if not kind_of.startswith(b"text/event-stream"):
                        raise ConnectionError(f"GET events answered {kind_of.decode(errors='replace')!r}, "
                                              "not text/event-stream")
                    self._resolve(self.subscribed, True)
                elif kind is EndOfMessage:
                    raise ConnectionError(f"the stream ended after {self.got} events")
        except Exception as exc:  # noqa: BLE001 - recorded for the report: the others go on
            self._fail(f"{type(exc).__name__}: {exc}")

    def _events(self, data: bytes) -> None:
        if self.events is None:
            n, self.carry = count_ids(self.carry, data)
            self.got += n
        else:
            for event in self.events.receive_data(data):
                if type(event) is not Event:
                    continue
                want = self.got + 1
                if event.last_event_id != str(want) or event.data.encode() != self.expect[want - 1]:
                    raise AssertionError(f"event {want}: got id {event.last_event_id!r}")
                self.got = want
        if self.got >= self.wanted and not self.done_at:
            self.done_at = time.perf_counter()
            self._resolve(self.finished, True)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.finished.done():
            self._fail(f"closed after {self.got} events")

    def _fail(self, error: str) -> None:
        if not self.error:
            self.error = error
        for future in (self.subscribed, self.finished):
            self._resolve(future, False)
        if self.transport is not None:
            self.transport.close()

    @staticmethod
    def _resolve(future: asyncio.Future, value: bool) -> None:
        if not future.done():
            future.set_result(value)


class Publisher(asyncio.Protocol):
    """Pipelined `POST /topics/{t}` on one keep-alive connection; counts the 201s."""

    def __init__(self, host: str, topic: str) -> None:
        self.target = f"/topics/{topic}".encode()
        self.host = host.encode()
        self.parser = ResponseParser()
        self.answered = 0
        self.waiting: tuple[int, asyncio.Future] | None = None
        self.status_error = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, messages: list[bytes]) -> asyncio.Future:
        """Write the POSTs in one go; the future resolves when all are answered."""
        out = []
        for data in messages:
            out.append(format_request(b"POST", self.target, [(b"Host", self.host)], data))
            self.parser.expect(b"POST")
        future = asyncio.get_running_loop().create_future()
        self.waiting = (self.answered + len(messages), future)
        self.transport.write(b"".join(out))  # type: ignore[attr-defined]
        return future

    def data_received(self, data: bytes) -> None:
        self.parser.receive_data(data)
        while (event := self.parser.next_event()) is not NEED_DATA:
            if type(event) is ResponseHead and event.status != 201 and not self.status_error:
                self.status_error = f"publish answered {event.status}"
            elif type(event) is EndOfMessage:
                self.answered += 1
        if self.waiting is not None and self.answered >= self.waiting[0]:
            future = self.waiting[1]
            self.waiting = None
            if not future.done():
                future.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiting is not None and not self.waiting[1].done():
            self.waiting[1].set_exception(ConnectionError("the publisher's connection closed"))


def _say(line: dict) -> None:
    print(json.dumps(line), flush=True)


async def run(host: str, port: int, *, subscribers: int, messages: int, size: int = 64,
              burst: int = 10, parse: int = 10, setup_timeout: float = 30.0,
              timeout: float = 60.0, steps: bool = True) -> dict:
    """The whole load; with `steps`, talk to the harness on stdin/stdout as described above."""
    loop = asyncio.get_running_loop()
    topic = f"fanout-{time.monotonic_ns()}"
    expect = [payload(i, size) for i in range(1, messages + 1)]
    request = format_request(b"GET", f"/topics/{topic}/events".encode(), [(b"Host", host.encode())])
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    subs: list[Subscriber] = []

    async def subscribe(k: int) -> None:
        async with gate:
            sub = Subscriber(request, expect if k < parse else None, messages)
            subs.append(sub)
            try:
                await loop.create_connection(lambda: sub, host, port)
                await sub.subscribed
            except OSError as exc:
                sub._fail(f"{type(exc).__name__}: {exc}")

    started = time.perf_counter()
    tasks = [asyncio.ensure_future(subscribe(k)) for k in range(subscribers)]
    await asyncio.wait(tasks, timeout=setup_timeout)
    for task in tasks:
        task.cancel()
    # a subscriber still connecting had its `subscribed` cancelled with its task
    ok = [s for s in subs if s.subscribed.done() and not s.subscribed.cancelled() and s.subscribed.result()]
    row: dict = {"subscribers": subscribers, "subscribed": len(ok), "messages": messages, "size": size,
                 "burst": burst, "parsed_subscribers": min(parse, subscribers),
                 "setup_s": round(time.perf_counter() - started, 3)}
    if steps:
        _say({"event": "subscribed", **row})
    try:
        if len(ok) < subscribers:
            errors = sorted({s.error for s in subs if s.error})
            row["error"] = (f"{len(ok):,} of {subscribers:,} subscribed within {setup_timeout:g} s"
                            + (f" ({errors[0]})" if errors else ""))
            return row
        if steps:
            await loop.run_in_executor(None, sys.stdin.readline)  # "go": the CPU was sampled
        row.update(await _publish_and_wait(host, port, topic, expect, burst, subs, timeout))
        return row
    finally:
        if steps:
            _say({"event": "result", **row})
            await loop.run_in_executor(None, sys.stdin.read)  # hold until the harness is done
        for sub in subs:
            if sub.transport is not None:
                sub.transport.close()


async def _publish_and_wait(host: str, port: int, topic: str, expect: list[bytes], burst: int,
                            subs: list[Subscriber], timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    _, publisher = await loop.create_connection(lambda: Publisher(host, topic), host, port)
    first = last_sent = time.perf_counter()
    cpu_first = time.process_time()  # this process's CPU: is the load the bottleneck?
    give_up = first + timeout  # for publishing and delivering together
    try:
        for at in range(0, len(expect), burst):
            last_sent = time.perf_counter()
            await asyncio.wait_for(publisher.send(expect[at:at + burst]), give_up - last_sent)
    except asyncio.TimeoutError:
        pass  # the figures say how far it got
    published = time.perf_counter()
    publisher.transport.close()
    await asyncio.wait([s.finished for s in subs], timeout=max(0.0, give_up - time.perf_counter()))
    delivered = sum(min(s.got, len(expect)) for s in subs)
    errors = sorted({s.error for s in subs if s.error})
    complete = delivered == len(subs) * len(expect)
    cpu = time.process_time() - cpu_first
    done = max(s.done_at for s in subs) if complete else time.perf_counter()
    seconds = max(done - first, 1e-9)
    arrivals = sorted(s.done_at - first for s in subs if s.done_at)
    return {
        "delivered": delivered, "complete": complete,
        "seconds": round(seconds, 4),
        "events_per_s": round(delivered / seconds, 1),
        "publish_s": round(published - first, 4),
        # near 100%: the subscribers' process, not the server, set the pace
        "load_cpu_util": round(cpu / max(time.perf_counter() - first, 1e-9), 3),
        "last_delivery_ms": round((done - last_sent) * 1000, 3),
        "first_done_ms": round(arrivals[0] * 1000, 3) if arrivals else None,
        "median_done_ms": round(arrivals[len(arrivals) // 2] * 1000, 3) if arrivals else None,
        "last_done_ms": round((done - first) * 1000, 3),
        **({"error": f"{delivered:,} of {len(subs) * len(expect):,} events delivered"
                     + (f" ({errors[0]})" if errors else "")} if not complete else {}),
        **({"publish_error": publisher.status_error} if publisher.status_error else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.sse_load", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--size", type=int, default=64, help="bytes per message")
    parser.add_argument("--burst", type=int, default=10, help="POSTs pipelined at a time")
    parser.add_argument("--parse", type=int, default=10,
                        help="subscribers that parse every event with EventStreamParser (the rest count)")
    parser.add_argument("--setup-timeout", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds for publishing and delivering every message")
    parser.add_argument("--no-steps", dest="steps", action="store_false",
                        help="run straight through and print only the result (no stdin)")
    args = parser.parse_args(argv)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop
        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a lab dependency
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        row = runner.run(run(args.host, args.port, subscribers=args.subscribers, messages=args.messages,
                             size=args.size, burst=args.burst, parse=args.parse,
                             setup_timeout=args.setup_timeout, timeout=args.timeout, steps=args.steps))
    if not args.steps:
        _say(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
