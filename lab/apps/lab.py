"""`lab`, the default app: every pattern on one port (see ARCHITECTURE.md's table)."""
from __future__ import annotations

import time
from pathlib import Path

from protocols.errors import HTTPError
from protocols.http1 import Request

from ..app import Answer, App, Response, text_response
from ..broker import Broker
from ..config import ServerConfig
from ..offload import offload
from ..patterns.push import add_push_routes, add_topic_fallback
from ..router import Router, query_params, split_target
from .echo import echo

__all__ = ["make_lab_app"]

# The dashboard is one static page; it talks to the endpoints below with fetch(),
# EventSource-style streams and a WebSocket, and shows what it sent and received.
_DASHBOARD = (Path(__file__).with_name("dashboard.html")).read_bytes()
_HTML = [(b"Content-Type", b"text/html; charset=utf-8"), (b"Cache-Control", b"no-cache")]


def make_lab_app(config: ServerConfig, broker: Broker | None = None) -> App:
    router = Router()
    broker = broker if broker is not None else Broker()
    add_push_routes(router, config, broker)  # /topics/{t}/events, /topics/{t}/ws

    router.add(r"/", get=lambda request: Response(200, _HTML, _DASHBOARD))
    router.add(r"/echo(?:/.*)?", any=echo)
    router.add(r"/work", get=work)
    add_topic_fallback(router, broker)  # until the topics routes land; shadowed by them
    return router


def work(request: Request) -> Answer:
    """`GET /work?ms=20[&offload=1]`: a blocking call of `ms` milliseconds (a stand-in
    for a slow disk read), made inline on the I/O thread, or on a worker thread."""
    params = query_params(split_target(request.target)[1])
    try:
        ms = float(params.get("ms", "20"))
    except ValueError:
        raise HTTPError(400, "ms must be a number") from None
    if not 0 <= ms <= 10_000:
        raise HTTPError(400, "ms must be between 0 and 10000")

    def block() -> Response:
        time.sleep(ms / 1000)
        return text_response(200, f"worked {ms:g} ms\n")

    return offload(block) if params.get("offload") in ("1", "true") else block()
