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

from dataclasses import replace

from protocols.http1 import Request

from ..app import Answer, Response, buffered, json_response
from ..broker import Broker
from ..config import ServerConfig
from ..patterns.common import limited
from ..patterns.jobs import Jobs
from ..patterns.topics import Topics
from ..patterns.tus import Tus
from ..patterns.uploads import Uploads
from ..router import Router
from .echo import echo

__all__ = ["make_lab_app", "LabApp"]

_DASHBOARD = b"""<!doctype html>
<html lang="en"><meta charset="utf-8"><title>The protocol lab</title>
<h1>The protocol lab</h1>
<p>HTTP/1.1 built by hand, served by this very server. Try:</p>
<pre>curl -v http://HOST/echo -d 'hello'</pre>
<h2>Request-response patterns</h2>
<ul>
<li>Upload: <code>curl -v http://HOST/uploads --data-binary @file</code>, then
  <code>GET /uploads/{id}</code></li>
<li>Resumable upload (tus 1.0.0): <code>curl -i -X OPTIONS http://HOST/files/</code></li>
<li>Short polling: <code>curl -i http://HOST/jobs -d '{"seconds": 5}'</code>, then
  <code>GET /jobs/{id}</code>; long polling: <code>GET /jobs/{id}?wait=30</code></li>
<li>Topics: <code>curl http://HOST/topics/news -d 'hi'</code>;
  <a href="/topics/news?after=0">/topics/news?after=0</a>;
  long poll <a href="/topics/news?after=1&amp;wait=30">/topics/news?after=1&amp;wait=30</a>;
  <a href="/topics/news/stats">/topics/news/stats</a></li>
</ul>
</html>
"""


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
        host = dict((n.lower(), v) for n, v in request.headers).get(b"host", b"127.0.0.1")
        return Response(200, [(b"Content-Type", b"text/html; charset=utf-8")],
                        _DASHBOARD.replace(b"HOST", host))

    def stats(self, request: Request) -> Response:
        """Waiters across the app: broker subscribers (all topics) and held job polls."""
        return json_response(200, {"topic_waiters": self.broker.waiter_count(),
                                   "job_waiters": self.jobs.waiter_count()})


def make_lab_app(config: ServerConfig, broker: Broker | None = None) -> LabApp:
    """The lab app; pass `broker` to share one with other apps (one is made if not)."""
    return LabApp(config, broker)
