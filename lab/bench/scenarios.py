"""The scenarios `lab bench` can run, in a registry: adding one is one decorated function.

A scenario function takes the `Bench` (settings and tools) and yields rows: flat dicts
of measured figures, one per server and setting, as each is measured (so a Ctrl-C keeps
what was measured). A row that could not be measured carries `error` (a sentence)
instead of figures, and the table shows it. The decorator names the columns of the
terminal table and the chart(s) drawn from the rows.

The six: `hello`, `blocking-work` and `idle-connections` put HTTP load on the models
(wrk or `lab.bench.loadgen`); `long-poll`, `sse-fanout` and `patterns` drive the
broker's delivery patterns with the lab's own clients on the load CPU
(`lab.bench.pattern_load`, `lab.bench.sse_load`). A new one has the same shape:

    @scenario("long-poll", "long-poll waiters", columns=[...], charts=[Chart(...)])
    def long_poll(bench: Bench) -> Iterator[dict]:
        for io in bench.ios:
            with bench.start(lab_server(io, "lab", serve_cmd=bench.serve_cmd)) as server:
                result = bench.client(["lab.bench.pattern_load", "wakeup", "--port",
                                       str(server.port), "--clients", "1000"], timeout=120)
                yield {"server": io, "clients": 1000, **result}
"""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Iterator

from . import procstats
from .harness import Bench, LoadError
from .peers import PEERS
from .servers import ServerSpec, ServerStartError, lab_server

__all__ = ["Column", "Chart", "Scenario", "SCENARIOS", "scenario", "IO_MODELS"]

IO_MODELS = ["blocking", "threads", "pool", "epoll", "asyncio", "uvloop"]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: str = "{}"  # format for a present value; None prints "-"


@dataclass(frozen=True)
class Chart:
    """A grouped bar chart: one group per value of `group`, one bar per value of `series`."""

    name: str  # file stem: "{scenario}-{name}.svg"
    title: str
    value: str  # row key drawn as bar height
    unit: str
    group: str
    series: str


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    run: Callable[[Bench], Iterator[dict]]
    columns: list[Column]
    charts: list[Chart] = field(default_factory=list)
    finish: Callable[[list[dict]], None] | None = None  # adds figures across rows (ratios)
    summarize: Callable[[list[dict]], list[str]] | None = None  # extra lines: targets

    def collect(self, bench: Bench, rows: list[dict]) -> None:
        """Append each row to `rows` as it is measured; `finish` them even if interrupted."""
        try:
            for row in self.run(bench):
                rows.append(row)
        finally:
            if self.finish is not None:
                self.finish(rows)


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, title: str, columns: list[Column], charts: list[Chart] = (),
             finish: Callable[[list[dict]], None] | None = None,
             summarize: Callable[[list[dict]], list[str]] | None = None):
    def register(run: Callable[[Bench], Iterator[dict]]) -> Callable[[Bench], Iterator[dict]]:
        SCENARIOS[name] = Scenario(name, title, run, list(columns), list(charts), finish, summarize)
        return run

    return register


def _failed(base: dict, exc: BaseException) -> dict:
    return {**base, "error": str(exc) or type(exc).__name__}


# ------------------------------------------------------------------------- hello

HELLO_LEVELS = [1, 16, 64, 256]
RATIO_BASELINE = "uvicorn-httptools"  # what users pick for speed: the targets are ratios to it
HELLO_TARGETS = {"uvloop": 2.0, "epoll": 2.0, "asyncio": 1.5}  # issue 3, at concurrency 64
HELLO_ROUNDS = 5  # each hello figure is the median of this many interleaved rounds


def hello_servers(bench: Bench) -> list[tuple[Callable[[], ServerSpec], str, str, str | None]]:
    """(spec factory, name, kind, why-skipped) for each lab model asked for, then each peer.
    Specs are made just before each server starts (nginx picks its free port then)."""
    servers: list[tuple[Callable[[], ServerSpec], str, str, str | None]] = [
        (lambda io=io: lab_server(io, "hello", serve_cmd=bench.serve_cmd), io, "lab", None) for io in bench.ios
    ]
    if bench.peers:
        for peer in PEERS.values():
            gone = peer.missing()
            skipped = f"not installed ({', '.join(gone)}): make bench-peers" if gone else None
            servers.append((peer.spec, peer.name, "peer", skipped))
    return servers


def add_ratios(rows: list[dict], key: str = "rps", by: str = "concurrency") -> None:
    """Each row's `key` over the baseline's at the same `by` (the baseline: uvicorn-httptools
    when it ran, else the first server that has a figure), as `ratio` and `ratio_to`.

    Rows measured in rounds (`rps_rounds`) are compared round by round, and the ratio is
    the median of those: the two figures of a pair were taken seconds apart, so the
    machine's drift between rounds cancels out of it."""
    for level in {r[by] for r in rows}:
        same = [r for r in rows if r[by] == level and r.get(key)]
        if not same:
            continue
        base = next((r for r in same if r["server"] == RATIO_BASELINE), same[0])
        for r in same:
            r["ratio"] = round(paired_ratio(r, base, key), 2)
            r["ratio_to"] = base["server"]


def paired_ratio(row: dict, base: dict, key: str = "rps") -> float:
    ours, theirs = row.get(f"{key}_rounds"), base.get(f"{key}_rounds")
    if ours and theirs and len(ours) == len(theirs) and all(ours) and all(theirs):
        return statistics.median(a / b for a, b in zip(ours, theirs))
    return row[key] / base[key]


def hello_summary(rows: list[dict]) -> list[str]:
    lines = []
    at64 = {r["server"]: r for r in rows if r["concurrency"] == 64 and r.get("rps")}
    base = at64.get(RATIO_BASELINE)
    if base is None:
        peers_ran = any(r.get("kind") == "peer" for r in rows)
        return ["targets not checked: uvicorn-httptools did not run at concurrency 64"] if peers_ran else []
    for io, target in HELLO_TARGETS.items():
        if io in at64:
            ratio = paired_ratio(at64[io], base)
            verdict = "met" if ratio >= target else "NOT met"
            lines.append(f"target {io} >= {target:g}x {RATIO_BASELINE} at c=64: {ratio:.2f}x ({verdict})")
    return lines


@scenario(
    "hello", "hello: keep-alive GETs, requests/s by concurrency",
    columns=[
        Column("server", "server"), Column("concurrency", "conns"), Column("rps", "req/s", "{:,.0f}"),
        Column("ratio", "ratio", "{:.2f}x"), Column("p50_ms", "p50 ms", "{:.2f}"),
        Column("p99_ms", "p99 ms", "{:.2f}"), Column("error_count", "errors", "{:,}"),
        Column("cpu_util", "srv CPU", "{:.0%}"), Column("cpu_us_per_req", "CPU us/req", "{:.1f}"),
        Column("rss_kib", "RSS KiB", "{:,}"), Column("threads", "threads"), Column("tool", "tool"),
    ],
    charts=[Chart("rps", "hello: requests/s (keep-alive GET)", "rps", "req/s", "concurrency", "server")],
    finish=add_ratios,
    summarize=hello_summary,
)
def hello(bench: Bench) -> Iterator[dict]:
    """Every server is started first and stays up; then each measurement is taken in
    HELLO_ROUNDS short rounds, server after server at one concurrency, and each row is
    the median round. A shared machine's speed drifts within a minute (a neighbour's
    load, the host's clock), and measuring one server after another put that drift into
    the ratios (epoll 1.5x to 2.1x of uvicorn in three runs); interleaved, every server
    meets the same drift, and `add_ratios` compares the servers round by round. Each
    round starts one server further down the list, so no server is always measured
    first (after the idle pause) or right after the same neighbour. The rows come only
    after the last round: a Ctrl-C during hello keeps none of them."""
    levels = [64] if bench.quick else HELLO_LEVELS
    per_round = max(1.0, round(bench.seconds(5.0, 3.0) / HELLO_ROUNDS))
    warmup = 0.5 if bench.quick else 1.0
    servers = hello_servers(bench)
    with ExitStack() as stack:
        running = []
        for n, (make_spec, name, kind, skipped) in enumerate(servers, 1):
            bases = [{"server": name, "kind": kind, "concurrency": c} for c in levels]
            if skipped:
                yield from ({**b, "error": skipped} for b in bases)
                continue
            bench.progress.set(f"[hello {n}/{len(servers)}] {name}: starting")
            try:
                running.append((name, bases, stack.enter_context(bench.start(make_spec()))))
            except ServerStartError as exc:
                yield from (_failed(b, exc) for b in bases)
        rounds: dict[tuple[str, int], list[dict]] = {}
        failed: dict[tuple[str, int], LoadError] = {}
        for r in range(HELLO_ROUNDS):
            shift = r % max(1, len(running))
            for level in levels:
                for name, _, server in running[shift:] + running[:shift]:
                    key = (name, level)
                    if key in failed:
                        continue
                    bench.progress.set(f"[hello round {r + 1}/{HELLO_ROUNDS}] {name} c={key[1]}",
                                       per_round + (warmup if r == 0 else 0))
                    try:
                        rounds.setdefault(key, []).append(
                            bench.load(server, "/", key[1], per_round, warmup if r == 0 else 0))
                    except LoadError as exc:
                        failed[key] = exc
        for name, bases, _ in running:
            for base in bases:
                key = (name, base["concurrency"])
                yield _failed(base, failed[key]) if key in failed else {**base, **median_round(rounds[key])}


def median_round(results: list[dict]) -> dict:
    """The round with the median req/s, whole (its latency and CPU belong to it), plus
    every round's req/s."""
    ordered = sorted(results, key=lambda r: r.get("rps") or 0)
    return {**ordered[len(ordered) // 2], "rps_rounds": [r.get("rps") for r in results]}


# ----------------------------------------------------------------- blocking-work

WORK_MS = 20  # the seed's "readFile" example: a 20 ms blocking call per request
WORK_WORKERS = [4, 16, 64]
WORK_CONNECTIONS = 64
WORK_PATH = "/work?ms={ms}"
OFFLOAD_PATH = "/work?ms={ms}&offload=1"
EVENT_LOOP_MODELS = ["epoll", "asyncio", "uvloop"]  # those whose loop a blocking call stalls


def work_plan(bench: Bench) -> list[tuple[str, str, int | None]]:
    """(io, variant, workers) to run: every model once with the call inline, `pool` at
    each worker count, and each event-loop model once more with the call offloaded."""
    plan: list[tuple[str, str, int | None]] = []
    for io in bench.ios:
        if io == "pool":
            plan += [("pool", "inline", w) for w in WORK_WORKERS]
        else:
            plan.append((io, "inline", None))
        if io in EVENT_LOOP_MODELS:
            plan.append((io, "offload", None))
    return plan


def offload_threads() -> int | None:
    """The size of the lab's offload pool (`lab.offload.WORKERS`), read from the code."""
    try:
        from lab.offload import WORKERS
    except ImportError:
        return None
    return WORKERS


def ideal_rps(io: str, variant: str, workers: int | None, connections: int, ms: float) -> float | None:
    """What the model could do at best: calls in parallel / the call's duration.
    Not a measurement: the yardstick the measured req/s is read against."""
    per_second = 1000 / ms
    if variant == "offload":
        threads = offload_threads()
        return None if threads is None else min(threads, connections) * per_second
    if io == "pool":
        return min(workers or connections, connections) * per_second
    if io == "threads":
        return connections * per_second
    return per_second  # blocking, and event loops stalled by the call: one call at a time


@scenario(
    "blocking-work", f"blocking-work: each request blocks {WORK_MS} ms, requests/s against workers",
    columns=[
        Column("server", "server"), Column("variant", "call"), Column("workers", "workers"),
        Column("rps", "req/s", "{:,.0f}"), Column("ideal_rps", "ideal", "{:,.0f}"),
        Column("p50_ms", "p50 ms", "{:.1f}"), Column("p99_ms", "p99 ms", "{:.1f}"),
        Column("error_count", "errors", "{:,}"), Column("cpu_util", "srv CPU", "{:.0%}"),
        Column("threads", "threads"), Column("tool", "tool"),
    ],
    charts=[Chart("rps", f"blocking-work: req/s, {WORK_MS} ms blocking call, {WORK_CONNECTIONS} connections",
                  "rps", "req/s", "workers", "label")],
)
def blocking_work(bench: Bench) -> Iterator[dict]:
    duration = bench.seconds(5.0, 3.0)
    warmup = 0.5 if bench.quick else 1.0
    plan = work_plan(bench)
    for n, (io, variant, workers) in enumerate(plan, 1):
        path = (OFFLOAD_PATH if variant == "offload" else WORK_PATH).format(ms=WORK_MS)
        label = io + ("+offload" if variant == "offload" else "")
        base = {"server": io, "kind": "lab", "variant": variant, "workers": workers if workers else "-",
                "label": label, "path": path, "connections": WORK_CONNECTIONS,
                "ideal_rps": ideal_rps(io, variant, workers, WORK_CONNECTIONS, WORK_MS)}
        bench.progress.set(f"[blocking-work {n}/{len(plan)}] {label} workers={base['workers']}", duration + warmup)
        try:
            with bench.start(lab_server(io, "lab", workers, bench.serve_cmd), check_path=path) as server:
                row = {**base, **bench.load(server, path, WORK_CONNECTIONS, duration, warmup)}
        except (ServerStartError, LoadError) as exc:
            if "answered 404" in str(exc):
                exc = ServerStartError(f"{exc}: this lab app has no /work endpoint")
            row = _failed(base, exc)
        yield row


# -------------------------------------------------------------- idle-connections

IDLE_COUNTS = [1000, 5000, 10000]
FD_MARGIN = 64  # listening socket, stdio, the probe's connection, the runtime's own fds
FRESH_REQUESTS = 100  # the fresh client's requests while the idle ones are held
FRESH_TIMEOUT = 2.0  # seconds: longer than this and "a fresh client is served quickly" is false


IDLE_TARGETS_KIB = {"epoll": 2.0, "asyncio": 6.0, "uvloop": 6.0}  # issue 3, at 10,000 connections


def idle_summary(rows: list[dict]) -> list[str]:
    lines = []
    for io, target in IDLE_TARGETS_KIB.items():
        row = next((r for r in rows if r["server"] == io and r["connections"] == 10000
                    and r.get("rss_per_conn_kib") is not None), None)
        if row is not None:
            verdict = "met" if row["rss_per_conn_kib"] <= target else "NOT met"
            lines.append(f"target {io} <= {target:g} KiB per idle connection at 10,000: "
                         f"{row['rss_per_conn_kib']:.2f} KiB ({verdict})")
    return lines


@scenario(
    "idle-connections", "idle-connections: memory and threads per held keep-alive connection",
    columns=[
        Column("server", "server"), Column("connections", "conns", "{:,}"), Column("served", "served", "{:,}"),
        Column("rss_per_conn_kib", "KiB/conn", "{:.2f}"), Column("rss_base_kib", "RSS before", "{:,}"),
        Column("rss_kib", "RSS held", "{:,}"), Column("threads", "threads", "{:,}"),
        Column("fresh_first_ms", "fresh 1st ms", "{:.2f}"), Column("fresh_p99_ms", "fresh p99 ms", "{:.2f}"),
        Column("fresh", "fresh client"),
    ],
    charts=[
        Chart("rss", "idle-connections: server RSS per held connection", "rss_per_conn_kib", "KiB",
              "connections", "server"),
        Chart("fresh", "idle-connections: a fresh client's p99 while they are held", "fresh_p99_ms", "ms",
              "connections", "server"),
    ],
    summarize=idle_summary,
)
def idle_connections(bench: Bench) -> Iterator[dict]:
    counts = [1000] if bench.quick else IDLE_COUNTS
    setup_timeout = 5.0 if bench.quick else 15.0
    runs = [(io, n) for io in bench.ios for n in counts]
    for k, (io, count) in enumerate(runs, 1):
        base = {"server": io, "kind": "lab", "connections": count}
        if count + FD_MARGIN > bench.fd_hard:
            bench.note(f"idle-connections {count:,} needs ~{count + FD_MARGIN:,} open files per process; "
                       f"the hard limit is {bench.fd_hard:,} and cannot be raised: skipped")
            yield {**base, "error": f"fd hard limit {bench.fd_hard:,} < {count + FD_MARGIN:,}"}
            continue
        bench.progress.set(f"[idle-connections {k}/{len(runs)}] {io}: {count:,} idle connections")
        try:
            row = {**base, **measure_idle(bench, io, count, setup_timeout)}
        except (ServerStartError, LoadError) as exc:
            row = _failed(base, exc)
        yield row


def measure_idle(bench: Bench, io: str, count: int, setup_timeout: float) -> dict:
    with bench.start(lab_server(io, "hello", serve_cmd=bench.serve_cmd)) as server:
        time.sleep(0.2)  # let the first request's allocations settle
        before = procstats.sample(server.pid)
        with bench.hold(server, "/", count, setup_timeout) as held:
            time.sleep(0.5)
            during = procstats.sample(server.pid)
            fresh = bench.probe(server, "/", FRESH_REQUESTS, FRESH_TIMEOUT)
    # RSS delta / N, N = the connections held open (the "RSS per connection"). A
    # model that serves fewer of them (blocking, a full pool) shows it in `served`.
    held_open = held["open"]
    delta = during.rss_kib - before.rss_kib
    return {
        "open": held_open, "served": held["served"], "timed_out": held["timed_out"], "failed": held["failed"],
        "setup_s": held["setup_s"],
        "rss_base_kib": before.rss_kib, "rss_kib": during.rss_kib, "rss_delta_kib": delta,
        "rss_per_conn_kib": round(delta / held_open, 2) if held_open else None,
        "threads_base": before.threads, "threads": during.threads,
        "fresh_first_ms": fresh.get("first_ms"), "fresh_p50_ms": fresh.get("p50_ms"),
        "fresh_p99_ms": fresh.get("p99_ms"), "fresh_served": fresh.get("served"),
        "fresh": "served" if not fresh.get("error") else f"{fresh['served']}/{FRESH_REQUESTS}: {fresh['error']}",
    }


# --------------------------------------------------------------------- long-poll

LONG_POLL_COUNTS = [100, 1000]
LONG_POLL_WAIT = 30.0  # the polls' wait=: longer than any wake-up measured here
CANNOT_HOLD = ["blocking", "pool"]  # they hold one poll, or --workers polls, at a time
CANNOT_HOLD_TIMEOUT = 3.0  # seconds: enough to show the publish waits behind the polls


def pool_workers() -> int:
    from lab.config import ServerConfig

    return ServerConfig().workers


def wakeup_verdict(io: str, clients: int, held: int, answered: int, timeout: float) -> str:
    """The row's sentence: all answered, or why not (blocking, a pool's worker limit)."""
    if answered >= clients:
        return "all answered"
    got = f"{answered:,} of {clients:,} answered in {timeout:g} s"
    if io == "blocking":
        return got + ": one connection at a time; the publish waits behind the first poll"
    if io == "pool":
        return got + f": {pool_workers()} workers, each held by a poll; the publish waits for a free one"
    return got


@scenario(
    "long-poll", "long-poll: N waiting clients on one topic woken by one publish",
    columns=[
        Column("server", "server"), Column("clients", "clients", "{:,}"), Column("held", "held", "{:,}"),
        Column("answered", "answered", "{:,}"), Column("first_ms", "first ms", "{:.2f}"),
        Column("median_ms", "median ms", "{:.2f}"), Column("last_ms", "last ms", "{:.2f}"),
        Column("cpu_us_per_poll", "CPU us/poll", "{:.1f}"), Column("threads", "threads", "{:,}"),
        Column("result", "result"),
    ],
    charts=[Chart("last", "long-poll: publish -> last waiting client answered", "last_ms", "ms",
                  "clients", "server")],
)
def long_poll(bench: Bench) -> Iterator[dict]:
    counts = [100] if bench.quick else LONG_POLL_COUNTS
    runs = [(io, n) for io in bench.ios for n in counts]
    for k, (io, clients) in enumerate(runs, 1):
        base = {"server": io, "kind": "lab", "clients": clients}
        if clients + FD_MARGIN > bench.fd_hard:
            yield {**base, "error": f"fd hard limit {bench.fd_hard:,} < {clients + FD_MARGIN:,}"}
            continue
        limited = io in CANNOT_HOLD
        settle, timeout = (1.0, CANNOT_HOLD_TIMEOUT) if limited else (10.0, 30.0)
        bench.progress.set(f"[long-poll {k}/{len(runs)}] {io}: {clients:,} waiting clients")
        try:
            with bench.start(lab_server(io, "lab", serve_cmd=bench.serve_cmd)) as server:
                before = procstats.sample(server.pid)
                result = bench.client(
                    ["lab.bench.pattern_load", "wakeup", "--host", server.host, "--port", str(server.port),
                     "--clients", str(clients), "--wait", f"{LONG_POLL_WAIT:g}", "--settle", f"{settle:g}",
                     "--timeout", f"{timeout:g}"], timeout=settle + timeout + 60)
                after = procstats.sample(server.pid)
        except (ServerStartError, LoadError, OSError) as exc:
            yield _failed(base, exc)
            continue
        yield {**base, **wakeup_row(io, result, after.cpu_since(before), timeout), "threads": after.threads,
               "rss_kib": after.rss_kib}


def wakeup_row(io: str, result: dict, cpu_s: float, timeout: float) -> dict:
    """The figures of one `long_poll_wakeup` result (seconds) in ms, plus the server's CPU."""
    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000, 3)

    answered = result["answered"]
    return {
        "held": result["held"] if result["held"] >= 0 else None, "answered": answered,
        "first_ms": ms(result["first"]), "median_ms": ms(result["median"]), "last_ms": ms(result["last"]),
        "cpu_s": round(cpu_s, 4),
        # the whole run: accepting N connections, holding the polls, one publish, N answers
        "cpu_us_per_poll": round(cpu_s / result["clients"] * 1e6, 1) if result["clients"] else None,
        "result": wakeup_verdict(io, result["clients"], result["held"], answered, timeout),
    }


# -------------------------------------------------------------------- sse-fanout

FANOUT_COUNTS = [100, 1000, 5000]
FANOUT_MESSAGES = 200  # --quick: 100
FANOUT_BURST = 50  # POSTs pipelined at a time
FANOUT_TIMEOUT = 90.0  # seconds to publish and deliver; a model slower than that shows how far it got
FANOUT_TARGET = ("uvloop", 1000, 200_000, 5.0)  # issue 3: events/s to 1,000 subscribers, CPU us/event


def fanout_summary(rows: list[dict]) -> list[str]:
    io, subs, eps, us = FANOUT_TARGET
    row = next((r for r in rows if r["server"] == io and r["subscribers"] == subs and r.get("events_per_s")), None)
    if row is None:
        return []
    lines = [f"target {io} >= {eps:,} events/s to {subs:,} SSE subscribers: {row['events_per_s']:,.0f} "
             f"({'met' if row['events_per_s'] >= eps else 'NOT met'})"]
    if row.get("cpu_us_per_event") is not None:
        lines.append(f"target {io} <= {us:g} us of server CPU per event: {row['cpu_us_per_event']:.2f} us "
                     f"({'met' if row['cpu_us_per_event'] <= us else 'NOT met'}); at 100% of one core that is "
                     f"{1e6 / row['cpu_us_per_event']:,.0f} events/s")
    return lines


@scenario(
    "sse-fanout", "sse-fanout: events/s delivered to N SSE subscribers (bursts of pipelined POSTs)",
    columns=[
        Column("server", "server"), Column("subscribers", "subs", "{:,}"), Column("messages", "msgs", "{:,}"),
        Column("events_per_s", "events/s", "{:,.0f}"), Column("cpu_us_per_event", "CPU us/event", "{:.2f}"),
        Column("cpu_util", "srv CPU", "{:.0%}"), Column("load_cpu_util", "load CPU", "{:.0%}"),
        Column("last_delivery_ms", "last after pub ms", "{:.1f}"),
        Column("last_done_ms", "all done ms", "{:.1f}"), Column("rss_kib", "RSS KiB", "{:,}"),
        Column("threads", "threads", "{:,}"), Column("result", "result"),
    ],
    charts=[
        Chart("eps", "sse-fanout: events/s delivered", "events_per_s", "events/s", "subscribers", "server"),
        Chart("cpu", "sse-fanout: server CPU per event delivered", "cpu_us_per_event", "us", "subscribers",
              "server"),
    ],
    summarize=fanout_summary,
)
def sse_fanout(bench: Bench) -> Iterator[dict]:
    counts = [100, 1000] if bench.quick else FANOUT_COUNTS
    messages = 100 if bench.quick else FANOUT_MESSAGES
    runs = [(io, n) for io in bench.ios for n in counts]
    for k, (io, subs) in enumerate(runs, 1):
        base = {"server": io, "kind": "lab", "subscribers": subs, "messages": messages}
        if subs + FD_MARGIN > bench.fd_hard:
            yield {**base, "error": f"fd hard limit {bench.fd_hard:,} < {subs + FD_MARGIN:,}"}
            continue
        setup = CANNOT_HOLD_TIMEOUT if io in CANNOT_HOLD else 60.0
        bench.progress.set(f"[sse-fanout {k}/{len(runs)}] {io}: {subs:,} subscribers x {messages} messages")
        try:
            with bench.start(lab_server(io, "lab", serve_cmd=bench.serve_cmd)) as server:
                yield {**base, **measure_fanout(bench, server, io, subs, messages, setup)}
        except (ServerStartError, LoadError, OSError) as exc:
            yield _failed(base, exc)


def measure_fanout(bench: Bench, server, io: str, subs: int, messages: int, setup: float) -> dict:
    argv = ["lab.bench.sse_load", "--host", server.host, "--port", str(server.port), "--subscribers", str(subs),
            "--messages", str(messages), "--burst", str(FANOUT_BURST), "--setup-timeout", f"{setup:g}",
            "--timeout", f"{FANOUT_TIMEOUT:g}"]
    with bench.stepped(argv) as load:
        ready = load.next_line(setup + 30)
        if ready["subscribed"] < subs:
            result = load.next_line(10)
            result.pop("event", None)
            error = result.pop("error", "not all subscribed")
            why = (f": {pool_workers()} workers, each held by a stream" if io == "pool"
                   else ": one connection at a time, held by the first stream" if io == "blocking" else "")
            return {**result, "result": error + why}
        before = procstats.sample(server.pid)
        started = time.monotonic()
        load.say("go")
        result = load.next_line(FANOUT_TIMEOUT + 30)
        after = procstats.sample(server.pid)
        window = time.monotonic() - started  # the span the CPU was read over
    result.pop("event", None)
    cpu = after.cpu_since(before)
    delivered = result.get("delivered") or 0
    error = result.pop("error", None)
    return {
        **result, "cpu_s": round(cpu, 4),
        "cpu_util": round(cpu / window, 3) if window > 0 else None,
        "cpu_us_per_event": round(cpu / delivered * 1e6, 3) if delivered else None,
        "rss_kib": after.rss_kib, "threads": after.threads,
        "result": error or f"all {delivered:,} delivered ({result['parsed_subscribers']} parsed and checked)",
    }


# ---------------------------------------------------------------------- patterns

PATTERN_LEGS = ["short", "long", "sse", "ws"]
PATTERN_IOS = ["epoll", "asyncio", "uvloop", "threads"]  # threads for contrast
PATTERN_MESSAGES = 40  # --quick: 20; one every PATTERN_INTERVAL s
PATTERN_INTERVAL = 0.1  # a sparse stream, as notifications are ...
PATTERN_POLL_EVERY = 0.05  # ... and a short poller that asks often enough for ~25 ms latency


def patterns_summary(rows: list[dict]) -> list[str]:
    lines = []
    for io in dict.fromkeys(r["server"] for r in rows):
        legs = {r["pattern"]: r for r in rows if r["server"] == io and r.get("bytes_per_msg")}
        if "short" in legs and "sse" in legs:
            s, e = legs["short"], legs["sse"]
            lines.append(f"{io}: short polling took {s['requests_per_msg']:.2f} requests and "
                         f"{s['bytes_per_msg']:,.0f} bytes per message, SSE {e['requests_per_msg']:.2f} and "
                         f"{e['bytes_per_msg']:,.0f} ({s['bytes_per_msg'] / e['bytes_per_msg']:.1f}x the bytes); "
                         f"p50 delivery {s['p50_ms']:.1f} ms against {e['p50_ms']:.2f} ms")
    return lines


@scenario(
    "patterns", "patterns: one stream of messages by short polling, long polling, SSE and WebSocket",
    columns=[
        Column("server", "server"), Column("pattern", "pattern"), Column("delivered", "msgs", "{:,}"),
        Column("requests_per_msg", "req/msg", "{:.2f}"), Column("bytes_per_msg", "bytes/msg", "{:,.1f}"),
        Column("sent_per_msg", "sent/msg", "{:,.1f}"), Column("received_per_msg", "recv/msg", "{:,.1f}"),
        Column("p50_ms", "p50 ms", "{:.2f}"), Column("p99_ms", "p99 ms", "{:.2f}"),
        Column("cpu_us_per_msg", "CPU us/msg", "{:.0f}"),
    ],
    charts=[
        Chart("bytes", "patterns: bytes on the wire per message (the reader's, both directions)",
              "bytes_per_msg", "bytes", "pattern", "server"),
        Chart("requests", "patterns: requests per message", "requests_per_msg", "requests", "pattern", "server"),
        Chart("latency", "patterns: delivery latency p50", "p50_ms", "ms", "pattern", "server"),
    ],
    summarize=patterns_summary,
)
def patterns(bench: Bench) -> Iterator[dict]:
    messages = 20 if bench.quick else PATTERN_MESSAGES
    ios = bench.models(PATTERN_IOS)
    for k, io in enumerate(ios, 1):
        bases = [{"server": io, "kind": "lab", "pattern": leg, "messages": messages} for leg in PATTERN_LEGS]
        try:
            with bench.start(lab_server(io, "lab", serve_cmd=bench.serve_cmd)) as server:
                for base in bases:
                    bench.progress.set(f"[patterns {k}/{len(ios)}] {io}: {base['pattern']}",
                                       messages * PATTERN_INTERVAL * 2)
                    try:
                        yield {**base, **measure_leg(bench, server, base["pattern"], messages)}
                    except (LoadError, OSError) as exc:
                        yield _failed(base, exc)
        except ServerStartError as exc:
            yield from (_failed(b, exc) for b in bases)


def measure_leg(bench: Bench, server, pattern: str, messages: int) -> dict:
    before = procstats.sample(server.pid)
    row = bench.client(["lab.bench.pattern_load", "leg", pattern, "--host", server.host, "--port",
                        str(server.port), "--messages", str(messages), "--interval", f"{PATTERN_INTERVAL:g}",
                        "--poll-every", f"{PATTERN_POLL_EVERY:g}", "--wait", "10"],
                       timeout=messages * PATTERN_INTERVAL * 4 + 60)
    after = procstats.sample(server.pid)
    cpu = after.cpu_since(before)
    row.update(cpu_s=round(cpu, 4),
               # the leg's whole cost on the server: the publisher's POSTs too (alike in every leg);
               # /proc counts CPU in 10 ms ticks: +-250 us per message at 40 messages
               cpu_us_per_msg=round(cpu / row["delivered"] * 1e6, 1) if row.get("delivered") else None)
    if row.get("delivered", 0) < messages:
        row["error"] = f"{row.get('delivered', 0)} of {messages} messages delivered"
    return row
