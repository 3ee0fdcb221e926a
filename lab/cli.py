"""`lab`: the command line. `python -m lab` alone is `lab serve` on its defaults."""
from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from pathlib import Path

from protocols.http1 import Limits

from .config import APPS, IO_MODELS, ServerConfig

__all__ = ["main", "build_parser"]

_DEFAULTS = ServerConfig()
_LIMITS = Limits()


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def _port(text: str) -> int:
    # getaddrinfo() takes any int and wraps it modulo 65536: 70000 would quietly listen
    # on 4464, and -1 fail with an obscure resolver message.
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, got {text}")
    return value


def configure_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--app", choices=APPS, default=_DEFAULTS.app,
                   help="what to serve: every pattern (lab), the echo app, or hello world (default: %(default)s)")
    p.add_argument("--io", choices=IO_MODELS, default=_DEFAULTS.io,
                   help="the I/O model (default: %(default)s)")
    p.add_argument("--host", default=_DEFAULTS.host, help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=_port, default=_DEFAULTS.port,
                   help="TCP port; 0 picks a free one, shown in the listening line (default: %(default)s)")
    p.add_argument("--workers", type=_positive(int), default=_DEFAULTS.workers,
                   help="worker threads for --io pool (default: %(default)s)")
    p.add_argument("--data-dir", type=Path, default=_DEFAULTS.data_dir,
                   help="where uploads are stored (default: %(default)s)")
    p.add_argument("--max-request-line", type=_positive(int), default=_LIMITS.max_request_line,
                   help="longest request line in bytes, else 414 (default: %(default)s)")
    p.add_argument("--max-header-bytes", type=_positive(int), default=_LIMITS.max_header_bytes,
                   help="largest header section in bytes, else 431 (default: %(default)s)")
    p.add_argument("--max-headers", type=_positive(int), default=_LIMITS.max_headers,
                   help="most header fields in a request, else 431 (default: %(default)s)")
    p.add_argument("--max-body", type=_positive(int), default=_LIMITS.max_body,
                   help="largest request body in bytes, else 413 (default: %(default)s)")
    p.add_argument("--max-upload", type=_positive(int), default=_DEFAULTS.max_upload,
                   help="largest upload streamed to disk (POST /uploads, tus), else 413 "
                        "(default: %(default)s)")
    p.add_argument("--header-timeout", type=_positive(float), default=_DEFAULTS.header_timeout,
                   help="seconds for a request head to arrive whole, else 408 (default: %(default)s)")
    p.add_argument("--keepalive-timeout", type=_positive(float), default=_DEFAULTS.keepalive_timeout,
                   help="seconds an idle keep-alive connection stays open (default: %(default)s)")
    p.add_argument("--sse-heartbeat", type=_positive(float), default=_DEFAULTS.sse_heartbeat,
                   help="seconds between SSE heartbeat comments (default: %(default)s)")
    p.add_argument("--log-level", default="warning",
                   choices=("debug", "info", "warning", "error"),
                   help="what the server logs to stderr (default: %(default)s)")


def run_serve(args: argparse.Namespace) -> int:
    from .apps import make_app
    from .io import make_server

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    config = ServerConfig(
        host=args.host, port=args.port, io=args.io, app=args.app, workers=args.workers,
        data_dir=args.data_dir, max_upload=args.max_upload, header_timeout=args.header_timeout,
        keepalive_timeout=args.keepalive_timeout, sse_heartbeat=args.sse_heartbeat,
        limits=Limits(max_request_line=args.max_request_line,
                      max_header_bytes=args.max_header_bytes,
                      max_headers=args.max_headers, max_body=args.max_body),
    )
    app = make_app(config.app, config)
    try:
        server = make_server(app, config)
    except OSError as exc:
        print(f"lab serve: cannot listen on {config.host}:{config.port}: {exc.strerror}",
              file=sys.stderr)
        return 1

    def on_signal(signum: int, frame: object) -> None:
        server.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    host, port = server.address
    shown = f"[{host}]" if ":" in host else host
    print(f"listening on http://{shown}:{port} (io={config.io}, app={config.app})", flush=True)
    server.serve_forever()
    return 0


# name, one-line help, module, configure function, run function. Modules are imported
# only to build their options: heavy dependencies (scapy) load when a command runs.
SUBCOMMANDS = [
    ("serve", "run the lab server", "lab.cli", "configure_serve", "run_serve"),
    ("trace", "run a scenario and show its packets, annotated", "lab.trace.cli",
     "configure_trace", "run_trace"),
    ("inspect", "annotate a pcap of HTTP, SSE or WebSocket traffic", "lab.trace.cli",
     "configure_inspect", "run_inspect"),
    ("bench", "compare the I/O models, side by side with common servers", "lab.bench.cli",
     "configure", "run"),
    ("exercise", "list, show and start the exercises", "lab.grade.cli",
     "configure_exercise", "run_exercise"),
    ("grade", "grade a submission against an exercise's checks", "lab.grade.cli",
     "configure_grade", "run_grade"),
    ("kit", "build the student edition", "lab.grade.cli", "configure_kit", "run_kit"),
]

_DESCRIPTIONS = {
    "serve": "Run the lab server. Prints one line 'listening on http://HOST:PORT "
             "(io=MODEL, app=APP)' when ready; SIGINT or SIGTERM stop it gracefully.",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `only`, just that command gets its options, so
    `lab serve` does not import the tracer, the benchmarks and the grader to start."""
    parser = argparse.ArgumentParser(
        prog="lab",
        description="The protocol lab: HTTP/1.1, SSE and WebSocket built by hand, "
                    "served under six I/O models. With no command: lab serve.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, module_name, configure, run in SUBCOMMANDS:
        command = sub.add_parser(name, help=help_text,
                                 description=_DESCRIPTIONS.get(name, help_text[0].upper() + help_text[1:] + "."))
        if only is None or only == name:
            module = importlib.import_module(module_name)
            getattr(module, configure)(command)
            command.set_defaults(run=getattr(module, run))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = [name for name, *_ in SUBCOMMANDS]
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")  # `python -m lab [options]` is `lab serve [options]`
    args = build_parser(only=argv[0] if argv[0] in names else None).parse_args(argv)
    return args.run(args)
