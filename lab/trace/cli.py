"""`lab trace` and `lab inspect`: see what actually crossed the wire.

    lab trace SCENARIO [--io MODEL] [--out FILE.pcap] [--json]
    lab trace --list
    lab trace handshake
    lab inspect FILE.pcap [--port N] [--json]

`lab trace` starts the lab on 127.0.0.1 port 0, captures its port on ``lo`` with
scapy, runs the scenario's client, stops the lab (by PID) and prints the annotated
timeline. Without the privilege to capture it says why, names the options and falls
back to an application-level byte tap. Exit codes: 0 done, 1 error (the lab did not
start, or the scenario failed: it says what the lab answered instead), 2 usage.

The lead wires `configure_*`/`run_*` into `lab`; `python -m lab.trace` runs them alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

from .capture import Capture, CaptureUnavailable, LoopbackSniffer
from .reassembly import Connection, Segment, reassemble, segments_from_packets, split_connections
from .scenarios import SCENARIOS, Exchange, ScenarioFailed
from .server import ServerError, start_lab
from .timeline import Trace, build_trace, render_json, render_text

__all__ = ["configure_trace", "run_trace", "configure_inspect", "run_inspect", "trace_scenario",
           "TraceResult", "IO_MODELS"]

IO_MODELS = ("blocking", "threads", "pool", "epoll", "asyncio", "uvloop")
DEFAULT_IO = "epoll"
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def configure_trace(parser: argparse.ArgumentParser) -> None:
    parser.description = "Run a scenario against the lab, capture it and print the annotated wire."
    parser.add_argument("scenario", nargs="?", help="a scenario name (see --list), or 'handshake'")
    parser.add_argument("--list", action="store_true", help="name the scenarios, one line each")
    parser.add_argument("--io", default=DEFAULT_IO, choices=IO_MODELS, help="I/O model of the lab (default: %(default)s)")
    parser.add_argument("--out", metavar="FILE.pcap", help="also write the capture as a pcap file (default: not written)")
    parser.add_argument("--json", action="store_true", help="one JSON record per segment instead of text")
    parser.add_argument("--no-capture", action="store_true",
                        help="skip packet capture: use the application-level byte tap")


def configure_inspect(parser: argparse.ArgumentParser) -> None:
    parser.description = "Annotate HTTP, SSE and WebSocket traffic in a pcap file (e.g. from tcpdump -i lo -w)."
    parser.add_argument("pcap", metavar="FILE.pcap", help="a pcap or pcapng file")
    parser.add_argument("--port", type=int, help="only connections to or from this port, the server's (default: every TCP connection in the file)")
    parser.add_argument("--json", action="store_true", help="one JSON record per segment instead of text")


@dataclass
class TraceResult:
    exchanges: list[Exchange]
    capture: Capture | None
    connections: list[Connection]
    trace: Trace
    port: int


def annotate_all(connections: list[Connection]) -> dict[int, list]:
    from .annotate import Element, annotate_connection

    elements: dict[int, list] = {}
    for conn in connections:
        try:
            elements[conn.number] = annotate_connection(conn)
        except Exception as exc:  # a capture of anything: say so, never a traceback
            elements[conn.number] = [Element(">", "unannotated", 0, len(conn.upstream.data),
                                             f"{type(exc).__name__}: {exc}")]
    return elements


def trace_scenario(name: str, io: str = DEFAULT_IO, capture: bool = True,
                   log=lambda message: None) -> TraceResult:
    """Run one scenario against a fresh lab; capture unless told not to (or unable)."""
    scenario = SCENARIOS[name]
    server = start_lab(scenario.app, io)
    sniffer = None
    try:
        if capture:
            sniffer = LoopbackSniffer(server.port)
            try:
                sniffer.start()
            except CaptureUnavailable as exc:
                log(f"{exc}\nFalling back to the application-level byte tap.")
                sniffer = None
        try:
            exchanges = scenario.run(server.address, time.monotonic() + scenario.seconds)
        finally:
            raw = None
            if sniffer is not None:
                sniffer.drain()
                raw = sniffer.stop()
    finally:
        server.stop()
    if raw is not None:
        connections = split_connections(segments_from_packets(raw.packets()), server.port)
        trace = build_trace("capture", connections, annotate_all(connections))
    else:
        connections = connections_from_tap(exchanges, server.address)
        trace = build_trace("tap", connections, annotate_all(connections))
    return TraceResult(exchanges, raw, connections, trace, server.port)


def connections_from_tap(exchanges: list[Exchange], server: tuple[str, int]) -> list[Connection]:
    """Connections built from the clients' own send/recv records (no packets)."""
    made: list[tuple[float, list[Segment]]] = []
    index = 0
    for exchange in exchanges:
        client = ("127.0.0.1", exchange.client_port)
        offsets = {">": 0, "<": 0}
        segments: list[Segment] = []
        for when, direction, data in exchange.calls:
            src, dst = (client, server) if direction == ">" else (server, client)
            segments.append(Segment(index, when, src, dst, "P", 1 + offsets[direction], 0, 0, data))
            offsets[direction] += len(data)
            index += 1
        made.append((segments[0].time if segments else 0.0, segments))
    connections = []
    for number, (_, segs) in enumerate(sorted(made, key=lambda m: m[0]), start=1):
        client, server_end = ("127.0.0.1", 0), server
        if segs:
            first = segs[0]
            client = first.src if first.dst == server else first.dst
        connections.append(Connection(
            number, client, server_end, segs,
            reassemble(s for s in segs if s.src == client),
            reassemble(s for s in segs if s.src != client),
        ))
    return connections


def run_trace(args: argparse.Namespace) -> int:
    if args.list:
        width = max(len(n) for n in SCENARIOS)
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:<{width}}  {scenario.summary}")
        print(f"{'handshake':<{width}}  scapy crafts SYN / SYN-ACK / ACK itself, in a private network namespace")
        return EXIT_OK
    if not args.scenario:
        print("lab trace: name a scenario (lab trace --list shows them)", file=sys.stderr)
        return EXIT_USAGE
    if args.scenario == "handshake":
        from .handshake import run_handshake

        return run_handshake(args)
    if args.scenario not in SCENARIOS:
        print(f"lab trace: unknown scenario {args.scenario!r}; lab trace --list shows them", file=sys.stderr)
        return EXIT_USAGE
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    try:
        result = trace_scenario(args.scenario, args.io, capture=not args.no_capture, log=say)
    except ServerError as exc:
        say(f"lab trace {args.scenario}: the lab did not start: {exc}")
        return EXIT_ERROR
    except (ScenarioFailed, OSError, TimeoutError, ValueError) as exc:
        say(f"lab trace {args.scenario}: the scenario failed: {type(exc).__name__}: {exc}")
        return EXIT_ERROR
    print(render_json(result.trace) if args.json else render_text(result.trace), end="")
    if args.out:
        if result.capture is None:
            say(f"lab trace: no packets were captured, so no pcap was written to {args.out}")
            return EXIT_ERROR
        result.capture.write_pcap(args.out)
        say(f"wrote {len(result.capture.frames)} frames to {args.out}")
    return EXIT_OK


def inspect_file(path: str, port: int | None = None) -> Trace:
    """Annotate a pcap/pcapng file; ``port`` keeps only that port's connections."""
    import scapy.layers.inet  # noqa: F401  dissect IP/TCP while reading, not Raw
    import scapy.layers.inet6  # noqa: F401
    from scapy.utils import rdpcap

    segments = segments_from_packets(rdpcap(path))
    if port is not None:
        segments = [s for s in segments if port in (s.src[1], s.dst[1])]
    connections = split_connections(segments, port)
    return build_trace("capture", connections, annotate_all(connections))


def run_inspect(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.pcap):
        print(f"lab inspect: no such file: {args.pcap}", file=sys.stderr)
        return EXIT_USAGE
    try:
        trace = inspect_file(args.pcap, args.port)
    except Exception as exc:  # scapy raises plain Scapy_Exception for non-pcap input
        print(f"lab inspect: cannot read {args.pcap} as a capture: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not trace.connections:
        print(f"lab inspect: no TCP segments{f' on port {args.port}' if args.port else ''} in {args.pcap}",
              file=sys.stderr)
    print(render_json(trace) if args.json else render_text(trace), end="")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.trace")
    commands = parser.add_subparsers(dest="command", required=True)
    configure_trace(commands.add_parser("trace", help="run and capture a scenario"))
    configure_inspect(commands.add_parser("inspect", help="annotate a pcap file"))
    args = parser.parse_args(argv)
    return run_trace(args) if args.command == "trace" else run_inspect(args)
