"""Clients for the long-poll and patterns scenarios, one JSON line each on stdout.

    python -m lab.bench.pattern_load wakeup --port P --clients 1000 [--settle S --timeout S]
    python -m lab.bench.pattern_load leg short|long|sse|ws --port P --messages 40

`wakeup` is `lab.patterns.probe.long_poll_wakeup`: N long polls held on one topic, one
publish, when the first/median/last answer arrived. `leg` follows one stream of messages
with one reader and reports what it cost that reader on the wire:

- `short`, `long`: `lab.patterns.probe.poll_delivery` (a publisher posts a message every
  `--interval` s; the short poller asks every `--poll-every` s, the long poller asks again
  as soon as it is answered). Latency: arrival minus the message's server `time`.
- `sse`, `ws`: `lab.clients.push_bench.push_leg` (one subscriber; each message published,
  delivered, then `--interval` s of quiet). Latency: the POST sent -> the event parsed.

Every leg's figures come out in one shape (requests, bytes each way, latency p50/p99 in
ms), so the scenario can put the four patterns in one table. The harness runs this on the
load CPU (`Bench.client`).
"""
from __future__ import annotations

import argparse
import json
import resource
from dataclasses import asdict

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
    from lab.clients.push_bench import run_push_leg  # the push branch's clients

    r = run_push_leg((host, port), kind=pattern, messages=messages, size=64, interval=interval)
    return leg_row(pattern, messages, len(r.latencies), r.requests, r.bytes_sent, r.bytes_received,
                   r.latencies)


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
