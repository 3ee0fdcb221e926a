"""Requests parsed per second: our sans-I/O parser against h11 and httptools.

    python -m lab.bench_parser [--requests N] [--rounds R] [--seed S] [--json FILE]

Design. One process, one seeded corpus of realistic requests (8-12 fields, a browser's
or an API client's, a quarter with a JSON body by Content-Length and some chunked), the
same bytes for every parser. Each parser must hand back the same thing (method, target,
fields, body) and the script checks they agree before it times anything. Each
measurement is warmed up, then repeated in rounds that take turns between the parsers;
each parser's best round counts, since on shared cores the noise only ever slows a
round down. Time is the process's CPU time, not wall time.

Three scenarios:
- fresh: a new parser for every request, fed the request whole (a cold start).
- connection: one parser per connection of 50 requests, read one request at a time
  or (one read in five) 2-4 pipelined in one buffer, and a minimal response written
  for each, as a server does. h11 cannot read the next request until a response has
  been sent, so here every parser pays for writing one: ours with `format_response`,
  h11 with `send` and `start_next_cycle`, httptools (which has no writer) with the
  bytes uvicorn joins by hand.
- connection, parse only: the same reads without responses (not possible for h11).

h11 is pure Python like ours; httptools wraps llhttp, the C parser in Node.js. The
target for ours is at least 3x h11.
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import sys
import time
from collections.abc import Callable

from protocols.http1 import Data, EndOfMessage, Request, RequestParser, format_response

__all__ = ["main", "make_corpus"]

USER_AGENTS = [
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    b"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    b"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    b"python-httpx/0.28.1",
    b"curl/8.5.0",
]
ACCEPTS = [
    b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    b"application/json",
    b"*/*",
]
OPTIONAL = [
    (b"Accept-Language", lambda r: b"en-US,en;q=0.9" if r.random() < 0.5 else b"de-DE,de;q=0.8,en;q=0.5"),
    (b"Accept-Encoding", lambda r: b"gzip, deflate, br, zstd"),
    (b"Cache-Control", lambda r: b"no-cache"),
    (b"Referer", lambda r: b"https://app.example.com/dashboard/%d" % r.randint(1, 999)),
    (b"Cookie", lambda r: b"session=%032x; csrftoken=%024x; theme=dark" % (r.getrandbits(128), r.getrandbits(96))),
    (b"Authorization", lambda r: b"Bearer %064x" % r.getrandbits(256)),
    (b"X-Request-ID", lambda r: b"%08x-%04x-4%03x-a%03x-%012x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(12), r.getrandbits(12), r.getrandbits(48))),
    (b"Sec-Fetch-Dest", lambda r: b"empty"),
    (b"Sec-Fetch-Mode", lambda r: b"cors"),
    (b"Sec-Fetch-Site", lambda r: b"same-origin"),
    (b"Origin", lambda r: b"https://app.example.com"),
    (b"Upgrade-Insecure-Requests", lambda r: b"1"),
    (b"If-None-Match", lambda r: b'W/"%016x"' % r.getrandbits(64)),
]

Parsed = tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]


def make_request(rng: random.Random) -> bytes:
    """One realistic request with 8-12 fields; a quarter carry a body."""
    body = b""
    chunked = False
    if rng.random() < 0.25:
        method = rng.choice((b"POST", b"PUT", b"PATCH"))
        body = json.dumps({"id": rng.randint(1, 10**6), "items": ["x" * rng.randint(1, 40) for _ in range(rng.randint(1, 30))]}).encode()
        chunked = rng.random() < 0.2
    else:
        method = b"GET"
    target = b"/api/v1/%s/%d" % (rng.choice((b"users", b"orders", b"items", b"topics")), rng.randint(1, 99999))
    if rng.random() < 0.5:
        target += b"?limit=%d&offset=%d&include=profile" % (rng.randint(1, 100), rng.randint(0, 1000))
    fields = [
        (b"Host", b"api.example.com"),
        (b"User-Agent", rng.choice(USER_AGENTS)),
        (b"Accept", rng.choice(ACCEPTS)),
        (b"Connection", b"keep-alive"),
    ]
    if body:
        fields.append((b"Content-Type", b"application/json"))
        fields.append((b"Transfer-Encoding", b"chunked") if chunked else (b"Content-Length", b"%d" % len(body)))
    for name, make in rng.sample(OPTIONAL, rng.randint(8, 12) - len(fields)):
        fields.append((name, make(rng)))
    head = method + b" " + target + b" HTTP/1.1\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in fields) + b"\r\n"
    if chunked:
        cut = rng.randint(1, len(body) - 1)
        body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (cut, body[:cut], len(body) - cut, body[cut:])
    return head + body


def make_corpus(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [make_request(rng) for _ in range(count)]


def make_reads(corpus: list[bytes], seed: int, per_connection: int = 50) -> list[list[bytes]]:
    """Connections of `per_connection` requests; one read in five holds 2-4 pipelined."""
    rng = random.Random(seed + 1)
    connections: list[list[bytes]] = []
    for start in range(0, len(corpus), per_connection):
        requests = corpus[start : start + per_connection]
        reads: list[bytes] = []
        i = 0
        while i < len(requests):
            n = rng.randint(2, 4) if rng.random() < 0.2 else 1
            reads.append(b"".join(requests[i : i + n]))
            i += n
        connections.append(reads)
    return connections


# -- ours ----------------------------------------------------------------------------
RESPONSE_FIELDS = [(b"Content-Type", b"text/plain")]


def ours_fresh(corpus: list[bytes]) -> list[Parsed]:
    out = []
    for data in corpus:
        parser = RequestParser()
        parser.receive_data(data)
        out.extend(_drain_ours(parser))
    return out


def _drain_ours(parser: RequestParser) -> list[Parsed]:
    out = []
    request = None
    body = b""
    while True:
        event = parser.next_event()
        kind = type(event)
        if kind is Request:
            request, body = event, b""
        elif kind is Data:
            body += event.data
        elif kind is EndOfMessage:
            out.append((request.method, request.target, request.headers, body))
        else:
            return out


def ours_connection(connections: list[list[bytes]], respond: bool = True) -> list[Parsed]:
    out = []
    for reads in connections:
        parser = RequestParser()
        for data in reads:
            parser.receive_data(data)
            parsed = _drain_ours(parser)
            if respond:
                for _ in parsed:
                    format_response(200, RESPONSE_FIELDS, b"ok")
            out.extend(parsed)
    return out


# -- h11 -----------------------------------------------------------------------------
def h11_fresh(corpus: list[bytes]) -> list[Parsed]:
    import h11

    out = []
    for data in corpus:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        out.extend(_drain_h11(h11, conn, respond=False))
    return out


def _drain_h11(h11, conn, respond: bool) -> list[Parsed]:
    out = []
    request = None
    body = b""
    while True:
        event = conn.next_event()
        kind = type(event)
        if kind is h11.Request:
            request, body = event, b""
        elif kind is h11.Data:
            body += event.data
        elif kind is h11.EndOfMessage:
            out.append((request.method, request.target, list(request.headers.raw_items()), body))
            if not respond:
                return out
            conn.send(h11.Response(status_code=200, headers=[(b"Content-Type", b"text/plain"), (b"Content-Length", b"2")]))
            conn.send(h11.Data(data=b"ok"))
            conn.send(h11.EndOfMessage())
            conn.start_next_cycle()
        else:  # NEED_DATA (PAUSED cannot happen: we always answer)
            return out


def h11_connection(connections: list[list[bytes]]) -> list[Parsed]:
    import h11

    out = []
    for reads in connections:
        conn = h11.Connection(h11.SERVER)
        for data in reads:
            conn.receive_data(data)
            out.extend(_drain_h11(h11, conn, respond=True))
    return out


# -- httptools -----------------------------------------------------------------------
class _Collector:
    """httptools callbacks, collecting what the other parsers return."""

    __slots__ = ("parser", "out", "target", "headers", "body")

    def __init__(self) -> None:
        self.out: list[Parsed] = []
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    def on_message_begin(self) -> None:
        self.target, self.headers, self.body = b"", [], b""

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.out.append((self.parser.get_method(), self.target, self.headers, self.body))


def httptools_fresh(corpus: list[bytes]) -> list[Parsed]:
    import httptools

    out = []
    for data in corpus:
        collector = _Collector()
        collector.parser = httptools.HttpRequestParser(collector)
        collector.parser.feed_data(data)
        out.extend(collector.out)
    return out


def httptools_connection(connections: list[list[bytes]], respond: bool = True) -> list[Parsed]:
    import httptools

    out = []
    for reads in connections:
        collector = _Collector()
        collector.parser = parser = httptools.HttpRequestParser(collector)
        done = 0
        for data in reads:
            parser.feed_data(data)
            if respond:
                for _ in collector.out[done:]:
                    # What uvicorn does: join the status line and fields by hand.
                    b"".join([b"HTTP/1.1 200 OK\r\n", b"date: ", _DATE, b"\r\n", b"content-type: text/plain\r\n", b"content-length: 2\r\n\r\n", b"ok"])
                done = len(collector.out)
        out.extend(collector.out)
    return out


_DATE = b"Sat, 28 Nov 2026 12:00:00 GMT"


# -- measuring -----------------------------------------------------------------------
def one_round(run: Callable[[], object], requests: int, min_seconds: float) -> float:
    """Requests per CPU second over one round: `run` repeated for min_seconds.

    Process CPU time, not wall time: the cores are shared, and time spent waiting for a
    core is not the parser's."""
    repeats = 0
    start = time.process_time()
    while True:
        run()
        repeats += 1
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return repeats * requests / elapsed


def best_rates(runs: dict[str, Callable[[], object]], requests: int, rounds: int, min_seconds: float) -> dict[str, float]:
    """Best round per parser. Rounds take turns (ours, h11, httptools, ours, ...) so a
    change in load between rounds weighs on every parser alike."""
    for run in runs.values():
        run()  # warm-up
    best = dict.fromkeys(runs, 0.0)
    for _ in range(rounds):
        for parser, run in runs.items():
            gc.collect()
            best[parser] = max(best[parser], one_round(run, requests, min_seconds))
    return best


def normalize(parsed: list[Parsed]) -> list[tuple]:
    """h11 lower-cases nothing in raw_items, httptools keeps case: compare as sent."""
    return [(m, t, [(n, v) for n, v in h], b) for m, t, h, b in parsed]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.bench_parser", description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000, help="requests in the corpus (default 2000)")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds per measurement; best counts (default 7)")
    ap.add_argument("--seconds", type=float, default=0.2, help="minimum CPU seconds per round (default 0.2)")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed (default 1)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    args = ap.parse_args(argv)

    corpus = make_corpus(args.requests, args.seed)
    connections = make_reads(corpus, args.seed)
    n = len(corpus)
    try:
        import h11  # noqa: F401
        import httptools  # noqa: F401
    except ImportError as exc:
        print(f"bench-parser needs h11 and httptools (pip install -e '.[test]'): {exc}", file=sys.stderr)
        return 2

    # Same bytes, same meaning: refuse to time parsers that disagree.
    expected = normalize(ours_fresh(corpus))
    for name, got in (
        ("h11 fresh", h11_fresh(corpus)), ("httptools fresh", httptools_fresh(corpus)),
        ("ours connection", ours_connection(connections)), ("h11 connection", h11_connection(connections)),
        ("httptools connection", httptools_connection(connections)),
    ):
        if normalize(got) != expected:
            print(f"{name} parsed the corpus differently; not timing", file=sys.stderr)
            return 1

    scenarios = [
        ("fresh parser per request", {
            "ours": lambda: ours_fresh(corpus), "h11": lambda: h11_fresh(corpus),
            "httptools": lambda: httptools_fresh(corpus)}),
        ("one parser per connection (+ response)", {
            "ours": lambda: ours_connection(connections), "h11": lambda: h11_connection(connections),
            "httptools": lambda: httptools_connection(connections)}),
        ("one parser per connection, parse only", {
            "ours": lambda: ours_connection(connections, respond=False),
            "httptools": lambda: httptools_connection(connections, respond=False)}),
    ]
    bodies = sum(1 for data in corpus if not data.endswith(b"\r\n\r\n") or b"\r\n0\r\n\r\n" in data)
    print(f"corpus: {n} requests (seed {args.seed}), {bodies} with bodies, "
          f"{sum(len(d) for d in corpus) // n} bytes on average; {len(connections)} connections, "
          f"{sum(len(r) for r in connections)} reads")
    print(f"python {platform.python_version()}, best of {args.rounds} rounds of >= {args.seconds} CPU s")
    print()
    header = f"{'scenario':40} {'ours':>11} {'h11':>11} {'httptools':>11} {'ours/h11':>9} {'ours/httptools':>15}"
    print(header)
    print("-" * len(header))
    results = []
    for name, runs in scenarios:
        rates = best_rates(runs, n, args.rounds, args.seconds)
        row = {"scenario": name, "requests_per_second": rates}
        vs_h11 = rates["ours"] / rates["h11"] if "h11" in rates else None
        vs_httptools = rates["ours"] / rates["httptools"]
        row["ours_over_h11"], row["ours_over_httptools"] = vs_h11, vs_httptools
        results.append(row)
        cell = lambda p: f"{rates[p]:>11,.0f}" if p in rates else f"{'-':>11}"  # noqa: E731
        ratio = f"{vs_h11:>8.2f}x" if vs_h11 else f"{'-':>9}"
        print(f"{name:40} {cell('ours')} {cell('h11')} {cell('httptools')} {ratio} {vs_httptools:>14.2f}x")
    print()
    print("requests per CPU second; target: ours >= 3x h11")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"corpus": {"requests": n, "seed": args.seed, "with_bodies": bodies},
                       "python": platform.python_version(), "rounds": args.rounds,
                       "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
