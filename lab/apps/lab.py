"""`lab`, the default app: every pattern on one port (see ARCHITECTURE.md's table)."""
from __future__ import annotations

from protocols.http1 import Request

from ..app import App, Response
from ..config import ServerConfig
from ..router import Router
from .echo import echo

__all__ = ["make_lab_app"]

_DASHBOARD = b"""<!doctype html>
<html lang="en"><meta charset="utf-8"><title>The protocol lab</title>
<h1>The protocol lab</h1>
<p>HTTP/1.1 built by hand, served by this very server. Try:</p>
<pre>curl -v http://HOST/echo -d 'hello'</pre>
</html>
"""


def make_lab_app(config: ServerConfig) -> App:
    router = Router()

    def dashboard(request: Request) -> Response:
        host = dict((n.lower(), v) for n, v in request.headers).get(b"host", b"127.0.0.1")
        return Response(200, [(b"Content-Type", b"text/html; charset=utf-8")],
                        _DASHBOARD.replace(b"HOST", host))

    router.add(r"/", get=dashboard)
    router.add(r"/echo(?:/.*)?", any=echo)
    return router
