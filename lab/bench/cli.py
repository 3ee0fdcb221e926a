"""`lab bench`: run scenarios against the I/O models (and the peers), report, save.

The lead's `lab/cli.py` registers this as a subcommand with `configure(parser)` and
`run(args)`; `python -m lab.bench` runs it directly.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys

from .harness import Bench, Progress
from .report import format_table, machine_facts, write_outputs
from .scenarios import HELLO_ROUNDS, IO_MODELS, SCENARIOS

__all__ = ["configure", "run", "main"]

DEFAULT_SCENARIOS = ["hello", "blocking-work", "idle-connections", "long-poll", "sse-fanout", "patterns"]


def _names(values: list[str] | None, allowed: list[str], what: str) -> list[str] | None:
    """Repeatable options that also take comma lists: `--io epoll,uvloop --io pool`."""
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(allowed)})")
    return list(dict.fromkeys(names))


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Measure what each I/O model costs and where each wins, next to the servers "
                          "people use instead. Load comes from wrk when installed, else the lab's own "
                          "generator, in a separate process pinned to another CPU.")
    parser.add_argument("--scenario", action="append", metavar="NAME",
                        help=f"scenario to run, repeatable or comma-separated: {', '.join(SCENARIOS)} "
                             f"(default: {', '.join(n for n in DEFAULT_SCENARIOS if n in SCENARIOS)})")
    parser.add_argument("--io", action="append", metavar="MODEL",
                        help=f"I/O models to measure, repeatable or comma-separated (default: all: {', '.join(IO_MODELS)}; "
                             "patterns: epoll, asyncio, uvloop, threads)")
    peers = parser.add_mutually_exclusive_group()
    peers.add_argument("--peers", dest="peers", action="store_true", default=True,
                       help="also run the installed peers (uvicorn, aiohttp, stdlib, nginx, and the naive "
                            "loops that parse nothing) in hello (default)")
    peers.add_argument("--no-peers", dest="peers", action="store_false", help="only the lab's own models")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: hello at 64 connections only, 1,000 idle connections, 100 long polls, "
                             "100 and 1,000 SSE subscribers, 20 messages per pattern, 3 s per measurement")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="seconds per measurement (default: 5, or 3 with --quick); hello splits them "
                             f"into {HELLO_ROUNDS} interleaved rounds of at least 1 s, reports the median "
                             "round and compares servers round by round")
    parser.add_argument("--out", default="bench-results", metavar="DIR",
                        help="directory for bench.json, the SVG charts and summary.md (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="write the JSON here (default: DIR/bench.json)")
    parser.add_argument("--no-wrk", dest="wrk", action="store_false",
                        help="use the lab's load generator even when wrk is installed")
    parser.add_argument("--serve-cmd", metavar="CMD",
                        help="command that starts a lab server, before its --app/--io/--port options "
                             "(default: 'python -m lab serve' with this interpreter)")


def run(args: argparse.Namespace) -> int:
    try:
        names = _names(args.scenario, list(SCENARIOS), "scenario") or [n for n in DEFAULT_SCENARIOS if n in SCENARIOS]
        given = _names(args.io, IO_MODELS, "I/O model")
    except argparse.ArgumentTypeError as exc:
        print(f"lab bench: {exc}", file=sys.stderr)
        return 2
    progress = Progress(sys.stderr)
    ios = given or list(IO_MODELS)
    bench = Bench(ios=ios, ios_given=given is not None, quick=args.quick, duration=args.duration, peers=args.peers,
                  serve_cmd=shlex.split(args.serve_cmd) if args.serve_cmd else None,
                  use_wrk=args.wrk, progress=progress)
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    _say_setup(bench, args)
    document = {
        "lab_bench": 1,
        "command": _command(args),
        "started": started.isoformat(),
        "machine": machine_facts(),
        "settings": {"scenarios": names, "io": ios, "peers": args.peers, "quick": args.quick,
                     "duration": args.duration, "load_tool": "wrk" if bench.wrk_path else "loadgen",
                     "server_cpus": sorted(bench.server_cpus or []), "load_cpus": sorted(bench.load_cpus or []),
                     "fd_limit": [bench.fd_soft, bench.fd_hard],
                     "serve_cmd": args.serve_cmd},
        "notes": bench.notes,
        "scenarios": {},
    }
    if bench.load_cpus:  # the harness itself stays off the server's CPU
        os.sched_setaffinity(0, bench.load_cpus)
    interrupted = False
    try:
        for name in names:
            scenario = SCENARIOS[name]
            rows: list[dict] = []
            document["scenarios"][name] = {"title": scenario.title, "rows": rows, "summary": []}
            scenario.collect(bench, rows)  # rows fill as they are measured
            summary = scenario.summarize(rows) if scenario.summarize else []
            document["scenarios"][name]["summary"] = summary
            progress.clear()
            progress.say("\n" + format_table(scenario, rows, summary) + "\n")
    except KeyboardInterrupt:  # servers are stopped by their context managers, by PID
        interrupted = True
        bench.note("interrupted: the results are partial")
    finally:
        progress.close()
    document["finished"] = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    json_path = args.json or os.path.join(args.out, "bench.json")
    written = write_outputs(args.out, json_path, document, SCENARIOS)
    print("wrote " + ", ".join(written), file=sys.stderr)
    return 130 if interrupted else 0


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run, as `lab bench ...`."""
    argv = getattr(args, "argv", None)
    if argv is None:  # registered under `lab`: sys.argv[1:] starts with "bench"
        return "lab " + shlex.join(sys.argv[1:])
    return "lab bench " + shlex.join(argv)


def _say_setup(bench: Bench, args: argparse.Namespace) -> None:
    if bench.wrk_path is None:
        if args.wrk:
            bench.note("wrk is not installed (apt-get install wrk, or make bench-peers): "
                       "load comes from the lab's own generator, which saturates near 30k req/s per core")
        else:
            bench.note("--no-wrk: load comes from the lab's own generator")
    if bench.server_cpus:
        bench.note(f"server pinned to CPU {','.join(map(str, sorted(bench.server_cpus)))}, "
                   f"load generator to CPU {','.join(map(str, sorted(bench.load_cpus)))}")
    else:
        bench.note("only one CPU available: server and load generator share it, figures are pessimistic")
    bench.note(f"open-files limit: soft {bench.fd_soft:,}, hard {bench.fd_hard:,} (soft raised to hard)")
    load1 = os.getloadavg()[0]
    if load1 >= 0.5:  # the harness itself is idle before it starts: this is someone else's work
        bench.note(f"load average {load1:.2f} before the run: other work shares these CPUs, "
                   "absolute figures will be low and noisy; compare ratios and CPU us/req")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lab bench")
    configure(parser)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    return run(args)
