"""Clients for the long-poll and patterns scenarios, one JSON line each on stdout.

    python -m lab.bench.pattern_load wakeup --port P --clients 1000 [--settle S --timeout S]
    python -m lab.bench.pattern_load leg short|long|sse|ws --port P --messages 40

`wakeup` is `lab.patterns.probe.long_poll_wakeup`: N long polls held on one topic, one
publish, when the first/median/last answer arrived. `leg` follows one stream of messages
with one reader and reports what it cost that reader on the wire:

- `short`, `long`: `lab.patterns.probe.poll_delivery` (a publisher posts a message every
  `--interval` s; the short poller asks every `--poll-every` s, the long poller asks again
  as soon as it is answered). Latency: arrival minus the message's server `time`.
- `sse`, `ws`: one subscriber (`lab.clients.push`: `open_sse`, `open_websocket`; events
  read by `protocols.sse.EventStreamParser`, frames by the WebSocket core) follows the
  same stream, published the same way (`probe.Client`, a POST every `--interval` s).

Latency is the same in every leg: the reader's `time.time()` when the message arrived
minus the message's `time` (the server's clock when it published it; the push legs read
those from `GET /topics/{t}?after=0` once the leg is over, outside the counted bytes).
Client and server share the machine's clock.

Every leg's figures come out in one shape (requests, bytes each way, latency p50/p99 in
ms), so the scenario can put the four patterns in one table. The harness runs this on the
load CPU (`Bench.client`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import threading
import time
from dataclasses import asdict

from protocols.http1 import NEED_DATA, Data
from protocols.sse import Event, EventStreamParser
from protocols.websocket import END_OF_STREAM, Message
from protocols.websocket import NEED_DATA as WS_NEED_DATA

from .loadgen import latency_summary

__all__ = ["leg_row", "main"]

LEGS = ("short", "long", "sse", "ws")


def leg_row(pattern: str, messages: int, delivered: int, requests: int, bytes_sent: int,
            bytes_received: int, latencies: list[float]) -> dict:
    """One leg's figures, per message where that is how they are read."""
    per = max(delivered, 1)
    lat = latency_summary(latencies)
    return {
        "pattern": pattern, "messages": messages, "delivered": delivered, "requests": requests,
        "bytes_sent": bytes_sent, "bytes_received": bytes_received,
        "requests_per_msg": round(requests / per, 2),
        "bytes_per_msg": round((bytes_sent + bytes_received) / per, 1),
        "sent_per_msg": round(bytes_sent / per, 1), "received_per_msg": round(bytes_received / per, 1),
        "p50_ms": lat["p50_ms"], "p99_ms": lat["p99_ms"], "max_ms": lat["max_ms"],
    }


def run_leg(host: str, port: int, pattern: str, messages: int, interval: float,
            poll_every: float, wait: float) -> dict:
    if pattern in ("short", "long"):
        from lab.patterns.probe import poll_delivery

        r = poll_delivery(host, port, mode=pattern, messages=messages, interval=interval,
                          poll_every=poll_every, wait=wait)
        return leg_row(pattern, messages, r.delivered, r.requests, r.bytes_sent, r.bytes_received,
                       r.latencies)
    return asyncio.run(push_leg(host, port, pattern, messages, interval))


async def push_leg(host: str, port: int, pattern: str, messages: int, interval: float,
                   timeout: float = 30.0) -> dict:
    """One SSE or WebSocket subscriber follows a stream a publisher thread posts."""
    from lab.clients.push import open_sse, open_websocket  # the push branch's clients
    from lab.patterns.probe import Client

    topic = f"delivery-{pattern}-{time.monotonic_ns()}"
    if pattern == "sse":
        wire, parser = await open_sse(host, port, topic)
        events = EventStreamParser()
    else:
        wire, ws = await open_websocket(host, port, f"/topics/{topic}/ws")
    arrivals: dict[int, float] = {}  # offset -> time.time() on arrival

    def publish() -> None:
        publisher = Client(host, port, timeout)
        try:
            for n in range(messages):
                publisher.request("POST", f"/topics/{topic}", b"message %d" % n)
                time.sleep(interval)
        finally:
            publisher.close()

    thread = threading.Thread(target=publish, name="leg-publisher", daemon=True)
    thread.start()
    give_up = time.monotonic() + timeout
    try:
        while len(arrivals) < messages:
            left = give_up - time.monotonic()
            if left <= 0:
                break
            if pattern == "sse":
                event = parser.next_event()
                if event is NEED_DATA:
                    parser.receive_data(await asyncio.wait_for(wire.read(), left))
                elif type(event) is Data:
                    for ev in events.receive_data(event.data):
                        if type(ev) is Event and ev.last_event_id.isdigit():
                            arrivals[int(ev.last_event_id)] = time.time()
                else:
                    raise ConnectionError("the event stream ended")
            else:
                event = ws.next_event()
                out = ws.data_to_send()
                if out:
                    wire.write(out)
                if event is WS_NEED_DATA:
                    ws.receive_data(await asyncio.wait_for(wire.read(), left))
                elif type(event) is Message:
                    arrivals[json.loads(event.data)["offset"]] = time.time()
                elif event is END_OF_STREAM:
                    raise ConnectionError("the WebSocket closed")
    finally:
        wire.close()
        thread.join(timeout)
    times = _publish_times(host, port, topic, timeout)
    latencies = [max(0.0, at - times[o]) for o, at in arrivals.items() if o in times]
    return leg_row(pattern, messages, len(arrivals), 1, wire.sent, wire.received, latencies)


def _publish_times(host: str, port: int, topic: str, timeout: float) -> dict[int, float]:
    """offset -> the server's `time` of each message of the topic."""
    from lab.patterns.probe import Client

    client = Client(host, port, timeout)
    try:
        status, body = client.request("GET", f"/topics/{topic}?after=0")
    finally:
        client.close()
    return {m["offset"]: m["time"] for m in json.loads(body)["messages"]} if status == 200 else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.pattern_load", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("wakeup", "leg"))
    parser.add_argument("pattern", nargs="?", choices=LEGS, help="leg: which pattern")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=100, help="wakeup: waiting clients")
    parser.add_argument("--wait", type=float, default=30.0, help="long poll wait=, seconds")
    parser.add_argument("--settle", type=float, default=5.0, help="wakeup: seconds to wait for every poll held")
    parser.add_argument("--timeout", type=float, default=30.0, help="wakeup: seconds to wait for the answers")
    parser.add_argument("--messages", type=int, default=40, help="leg: messages in the stream")
    parser.add_argument("--interval", type=float, default=0.05, help="leg: seconds between messages")
    parser.add_argument("--poll-every", type=float, default=0.1, help="short leg: seconds between polls")
    args = parser.parse_args(argv)
    if args.what == "wakeup":
        from lab.patterns.probe import long_poll_wakeup

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        row = asdict(long_poll_wakeup(args.host, args.port, args.clients, wait=args.wait,
                                      timeout=args.timeout, settle=args.settle))
    else:
        if args.pattern is None:
            parser.error("leg needs a pattern: " + ", ".join(LEGS))
        row = run_leg(args.host, args.port, args.pattern, args.messages, args.interval,
                      args.poll_every, args.wait)
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
