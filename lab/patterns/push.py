"""The push routes of the lab app: SSE and WebSocket on one shared broker.

    add_push_routes(router, config, broker)
        GET /topics/{t}/events    Server-Sent Events (lab/patterns/sse.py)
        ANY /topics/{t}/ws        WebSocket; the handshake core answers 400 to a non-GET

    add_topic_fallback(router, broker)
        POST /topics/{t}          body = message -> 201 {"offset": n}
        GET /topics/{t}/stats     -> {"topic", "waiters", "last", "oldest"}

`add_topic_fallback` is a stand-in for the request-response patterns' `topics` module
(publish, polls, stats), so the push endpoints can be fed and observed before it is
merged. The router takes the first route that matches a path, so when it is called
after the real topic routes it is shadowed by them and does nothing; it answers the
same shapes they do.
"""
from __future__ import annotations

import re

from protocols.errors import HTTPError
from protocols.http1 import Headers, Request

from ..app import Answer, Response, buffered, json_response
from ..broker import Broker
from ..config import ServerConfig
from ..router import Router
from .sse import sse_response
from .websocket import websocket_response

__all__ = ["add_push_routes", "add_topic_fallback", "check_topic"]

# The topic names the topic routes accept: echoed into JSON and SSE, so plain.
TOPIC = re.compile(r"[A-Za-z0-9._-]{1,128}")


def check_topic(topic: str) -> str:
    if not TOPIC.fullmatch(topic):
        raise HTTPError(400, "a topic name is 1-128 of A-Z a-z 0-9 . _ -")
    return topic


def add_push_routes(router: Router, config: ServerConfig, broker: Broker) -> None:
    def events(request: Request, topic: str) -> Response:
        return sse_response(broker, check_topic(topic), request, config.sse_heartbeat)

    def ws(request: Request, topic: str) -> Response:
        return websocket_response(broker, check_topic(topic), request, config.limits.max_body)

    router.add(r"/topics/(?P<topic>[^/]+)/events", get=events)
    router.add(r"/topics/(?P<topic>[^/]+)/ws", any=ws)


def add_topic_fallback(router: Router, broker: Broker) -> None:
    def publish(request: Request, topic: str) -> Answer:
        check_topic(topic)

        def done(request: Request, body: bytes, trailers: Headers) -> Response:
            return json_response(201, {"offset": broker.publish(topic, body).offset})
        return buffered(done)(request)

    def stats(request: Request, topic: str) -> Response:
        check_topic(topic)
        return json_response(200, {
            "topic": topic, "waiters": broker.waiter_count(topic),
            "last": broker.last_offset(topic), "oldest": broker.read(topic, 0, 1).oldest,
        })

    router.add(r"/topics/(?P<topic>[^/]+)", post=publish)
    router.add(r"/topics/(?P<topic>[^/]+)/stats", get=stats)
