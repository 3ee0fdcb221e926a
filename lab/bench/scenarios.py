"""The scenarios `lab bench` can run, in a registry: adding one is one decorated function.

A scenario function takes the `Bench` (settings and tools) and yields rows: flat dicts
of measured figures, one per server and setting, as each is measured (so a Ctrl-C keeps
what was measured). A row that could not be measured carries `error` (a sentence)
instead of figures, and the table shows it. The decorator names the columns of the
terminal table and the chart(s) drawn from the rows.

Later issues add `long-poll`, `sse-fanout` and `patterns` here the same way:

    @scenario("long-poll", "long-poll waiters", columns=[...], charts=[Chart(...)])
    def long_poll(bench: Bench) -> Iterator[dict]:
        for io in bench.ios:
            with bench.start(lab_server(io, "lab", serve_cmd=bench.serve_cmd)) as server:
                result = bench.client(["lab.patterns.probe", "wakeup", "--port", str(server.port),
                                       "--clients", "1000"], timeout=120)
                yield {"server": io, "clients": 1000, **result}
"""

from __future__ import annotations

import time
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
    when it ran, else the first server that has a figure), as `ratio` and `ratio_to`."""
    for level in {r[by] for r in rows}:
        same = [r for r in rows if r[by] == level and r.get(key)]
        if not same:
            continue
        base = next((r for r in same if r["server"] == RATIO_BASELINE), same[0])
        for r in same:
            r["ratio"] = round(r[key] / base[key], 2)
            r["ratio_to"] = base["server"]


def hello_summary(rows: list[dict]) -> list[str]:
    lines = []
    at64 = {r["server"]: r for r in rows if r["concurrency"] == 64 and r.get("rps")}
    base = at64.get(RATIO_BASELINE)
    if base is None:
        peers_ran = any(r.get("kind") == "peer" for r in rows)
        return ["targets not checked: uvicorn-httptools did not run at concurrency 64"] if peers_ran else []
    for io, target in HELLO_TARGETS.items():
        if io in at64:
            ratio = at64[io]["rps"] / base["rps"]
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
    levels = [64] if bench.quick else HELLO_LEVELS
    duration = bench.seconds(5.0, 3.0)
    warmup = 0.5 if bench.quick else 1.0
    servers = hello_servers(bench)
    for n, (make_spec, name, kind, skipped) in enumerate(servers, 1):
        bases = [{"server": name, "kind": kind, "concurrency": c} for c in levels]
        if skipped:
            yield from ({**b, "error": skipped} for b in bases)
            continue
        bench.progress.set(f"[hello {n}/{len(servers)}] {name}: starting")
        try:
            with bench.start(make_spec()) as server:
                for base in bases:
                    bench.progress.set(f"[hello {n}/{len(servers)}] {name} c={base['concurrency']}",
                                       duration + warmup)
                    try:
                        yield {**base, **bench.load(server, "/", base["concurrency"], duration, warmup)}
                    except LoadError as exc:
                        yield _failed(base, exc)
        except ServerStartError as exc:
            yield from (_failed(b, exc) for b in bases)


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
