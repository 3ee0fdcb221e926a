"""A test-only server: the lab app plus the fixture routes the push tests need.

    python -m tests.lab.push_app serve --app lab --io epoll --port 0   (lab serve's CLI)

- `GET /fixture/page`: an empty same-origin page for Chromium to run scripts in.
- `GET /fixture/events`: a fixed event stream written with `protocols.sse`'s encoder:
  multi-line data, custom event types, ids with spaces and non-ASCII, an empty event, a
  comment, CR and CRLF inside data, an id reset. It stays open after the last event.
- `GET /topics/{t}/events`: the real SSE endpoint, with each stream remembered, so that
- `POST /fixture/drop/{t}` can end every open stream of topic t cleanly (the server
  "drops" them): an EventSource then reconnects with `Last-Event-ID`.

Everything else is the ordinary lab app, on the same broker.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from weakref import WeakSet

from protocols.errors import HTTPError
from protocols.http1 import Request
from protocols.sse import encode_comment, encode_event, encode_retry

from lab.app import Answer, App, Response, json_response
from lab.broker import Broker
from lab.config import ServerConfig
from lab.patterns.topics import check_topic
from lab.patterns.sse import SSE_HEADERS, EventStream, sse_response
from lab.router import Router

# (type, data, id) of each fixture event as a browser must report it, in order. An id of
# None in the encoder means "no id line": lastEventId stays what it was.
FIXTURE = [
    # type,     data sent,                                     id sent,        lastEventId seen
    ("message", "first line\nsecond line\n\nfourth line",       "1",            "1"),
    ("custom", " one leading space is kept", "two words", "two words"),
    ("empty", "", None, "two words"),
    ("update", "crlf\r\nand a lone cr\rend", "ünïcödé 🎉", "ünïcödé 🎉"),
    ("message", "after a comment: ünïcödé data 🎉", "", ""),
    ("last", "done", "6", "6"),
]
PAGE = b"<!doctype html><meta charset=utf-8><title>push fixture</title><p>push fixture"


def fixture_stream_bytes() -> bytes:
    parts = [encode_retry(500)]
    for kind, data, id_, _ in FIXTURE:
        if kind == "message" and id_ == "":
            parts.append(encode_comment("a comment between events"))
        parts.append(encode_event(data, event=None if kind == "message" else kind, id=id_))
    return b"".join(parts)


class FixedStream:
    """A Stream that sends fixed bytes, then stays open with nothing more to say."""

    deadline = None

    def __init__(self, data: bytes) -> None:
        self.data = data

    def subscribe(self, wake) -> None:
        pass

    def cancel(self) -> None:
        pass

    def pull(self) -> bytes | None:
        data, self.data = self.data, b""
        return data


def make_fixture_app(config: ServerConfig) -> App:
    from lab.apps.lab import make_lab_app

    broker = Broker()
    lab_app = make_lab_app(config, broker)
    streams: dict[str, WeakSet[EventStream]] = defaultdict(WeakSet)
    router = Router()

    def events(request: Request, topic: str) -> Response:
        response = sse_response(broker, check_topic(topic), request, config.sse_heartbeat)
        streams[topic].add(response.body)  # type: ignore[arg-type]
        return response

    def drop(request: Request, topic: str) -> Response:
        open_streams = [s for s in list(streams[topic]) if s.subscribed]
        for stream in open_streams:
            stream.end()
        return json_response(200, {"dropped": len(open_streams)})

    router.add(r"/fixture/page", get=lambda request: Response(
        200, [(b"Content-Type", b"text/html; charset=utf-8")], PAGE))
    router.add(r"/fixture/events", get=lambda request: Response(
        200, list(SSE_HEADERS), FixedStream(fixture_stream_bytes())))
    router.add(r"/fixture/drop/(?P<topic>[^/]+)", post=drop)
    router.add(r"/topics/(?P<topic>[^/]+)/events", get=events)

    def app(request: Request) -> Answer:
        try:
            return router(request)
        except HTTPError as exc:
            if exc.status == 404:
                return lab_app(request)
            raise

    return app


def main(argv: list[str] | None = None) -> int:
    import lab.apps
    from lab.cli import main as lab_main

    lab.apps.make_app = lambda name, config: make_fixture_app(config)  # type: ignore[assignment]
    return lab_main(argv)


if __name__ == "__main__":
    sys.exit(main())
