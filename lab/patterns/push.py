"""The push routes of the lab app: SSE and WebSocket on the app's one broker.

    add_push_routes(router, config, broker)
        GET /topics/{t}/events    Server-Sent Events (lab/patterns/sse.py)
        ANY /topics/{t}/ws        WebSocket (lab/patterns/websocket.py); the handshake
                                  core answers a non-GET with 400

Topic names follow `topics.check_topic` (400 otherwise); publishing, polling and
`/topics/{t}/stats` are the `topics` module's.
"""
from __future__ import annotations

from protocols.http1 import Request

from ..app import Response
from ..broker import Broker
from ..config import ServerConfig
from ..router import Router
from .sse import sse_response
from .topics import check_topic
from .websocket import websocket_response

__all__ = ["add_push_routes"]


def add_push_routes(router: Router, config: ServerConfig, broker: Broker) -> None:
    def events(request: Request, topic: str) -> Response:
        return sse_response(broker, check_topic(topic), request, config.sse_heartbeat)

    def ws(request: Request, topic: str) -> Response:
        return websocket_response(broker, check_topic(topic), request, config.limits.max_body)

    router.add(r"/topics/(?P<topic>[^/]+)/events", get=events)
    router.add(r"/topics/(?P<topic>[^/]+)/ws", any=ws)
