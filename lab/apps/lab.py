"""`lab`, the default app: every pattern on one port (see ARCHITECTURE.md's table).

    app = make_lab_app(config)             # or make_lab_app(config, broker=shared)
    app.broker                             # the one Broker every delivery pattern reads
    app.router.add(r"/topics/(?P<topic>[^/]+)/events", get=...)   # more patterns

Body limits: the parser refuses a body past `max_body` before an app sees the request
head, so the limit cannot be raised per request. Instead this app carries its own
parser `limits` (the Connection uses them): `max_body` raised to `--max-upload`, for
the routes that stream bodies to disk (`/uploads`, tus `/files/`, which check
--max-upload themselves). Every route that holds a body in memory (`/echo`, publishing
to a topic, starting a job) is wrapped in `limited(..., --max-body)`, so those keep the
server's ordinary limit (16 MiB by default) and answer 413 past it.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from protocols.errors import HTTPError
from protocols.http1 import Request

from ..app import Answer, Response, buffered, json_response, text_response
from ..broker import Broker
from ..config import ServerConfig
from ..offload import offload
from ..patterns.common import limited
from ..patterns.jobs import Jobs
from ..patterns.topics import Topics
from ..patterns.tus import Tus
from ..patterns.uploads import Uploads
from ..router import Router, query_params, split_target
from .echo import echo

__all__ = ["make_lab_app", "LabApp"]

# The dashboard is one static page; it talks to the endpoints below with fetch(),
# EventSource-style streams and a WebSocket, and shows what it sent and received.
_DASHBOARD = (Path(__file__).with_name("dashboard.html")).read_bytes()
_HTML = [(b"Content-Type", b"text/html; charset=utf-8"), (b"Cache-Control", b"no-cache")]


class LabApp:
    """The lab's router, with the broker and the parser limits it needs in reach."""

    def __init__(self, config: ServerConfig, broker: Broker | None = None) -> None:
        self.config = config
        self.broker = broker if broker is not None else Broker()
        max_body = config.limits.max_body
        self.limits = replace(config.limits, max_body=max(max_body, config.max_upload))
        self.uploads = Uploads(config.data_dir, config.max_upload)
        self.tus = Tus(config.data_dir, config.max_upload)
        self.jobs = Jobs()
        self.topics = Topics(self.broker)
        self.router = router = Router()
        router.add(r"/", get=self.dashboard)
        router.add(r"/echo(?:/.*)?", any=limited(echo, max_body))
        router.add(r"/work", get=work)
        router.add(r"/uploads", post=self.uploads.post)
        router.add(r"/uploads/(?P<id>[^/]+)", get=self.uploads.get)
        router.add(r"/files/?", options=self.tus.options, post=self.tus.create)
        router.add(r"/files/(?P<id>[^/]+)", options=self.tus.options, head=self.tus.head,
                   patch=self.tus.patch, get=self.tus.get)
        router.add(r"/jobs", post=limited(buffered(self.jobs.start), max_body))
        router.add(r"/jobs/(?P<id>[^/]+)", get=self.jobs.status)
        router.add(r"/topics/(?P<topic>[^/]+)", get=self.topics.read,
                   post=limited(self.topics.publish, max_body))
        router.add(r"/topics/(?P<topic>[^/]+)/stats", get=self.topics.stats)
        router.add(r"/stats", get=self.stats)

    def __call__(self, request: Request) -> Answer:
        return self.router(request)

    def dashboard(self, request: Request) -> Response:
        return Response(200, _HTML, _DASHBOARD)

    def stats(self, request: Request) -> Response:
        """Waiters across the app: broker subscribers (all topics) and held job polls."""
        return json_response(200, {"topic_waiters": self.broker.waiter_count(),
                                   "job_waiters": self.jobs.waiter_count()})


def make_lab_app(config: ServerConfig, broker: Broker | None = None) -> LabApp:
    """The lab app; pass `broker` to share one with other apps (one is made if not)."""
    return LabApp(config, broker)


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
