"""What an app is, and what it may answer: the line between apps and I/O models.

An app is a callable `app(request) -> Answer`. It never touches a socket. It answers:

- `Response`: status, headers and a body that is bytes, or a `Stream` (SSE) the I/O
  model pulls from as it fills;
- `Deferred`: "no answer yet" (long polling, work moved off the I/O path); the I/O model
  waits its own way until the deferred wakes it or its deadline passes;
- `BodyReader`: the app wants the request body as it arrives (uploads streamed to disk);
  `end()` gives the answer.

`Stream` and `Deferred` are `Waitable`s: `subscribe(wake)` asks to have `wake()` called,
from any thread, when polling again may give more; `cancel()` frees whatever waits when
the client goes away. A 101 `Response` may carry a `Session` that takes the connection
over after the handshake (WebSocket).
"""
from __future__ import annotations

import json
from typing import Any, Callable, Protocol

from protocols.http1 import Headers, Request

__all__ = [
    "App", "Answer", "Response", "Stream", "Deferred", "BodyReader", "Session", "Wake",
    "json_response", "text_response", "buffered",
]

Wake = Callable[[], None]


class Waitable(Protocol):
    deadline: float | None  # time.monotonic() at which to poll even if not woken

    def subscribe(self, wake: Wake) -> None: ...
    def cancel(self) -> None: ...


class Stream(Waitable, Protocol):
    """A body that arrives over time. `pull()` gives bytes (b"" = nothing yet) or None
    when the body has ended."""

    def pull(self) -> bytes | None: ...


class Deferred(Waitable, Protocol):
    """An answer that is not known yet. `poll()` gives it, or None to keep waiting."""

    def poll(self) -> Response | None: ...


class Session(Protocol):
    """A protocol that takes the connection over after a 101 (e.g. WebSocket). It has the
    same face toward the I/O model as the HTTP connection it replaces."""

    closing: bool
    deadline: float | None

    def start(self, trailing: bytes, wake: Wake) -> bytes: ...
    def receive_data(self, data: bytes) -> bytes: ...
    def tick(self) -> bytes: ...
    def connection_lost(self) -> None: ...


class Response:
    """A status, header fields and a body. `close=True` ends the connection after it."""

    __slots__ = ("status", "headers", "body", "close", "session")

    def __init__(
        self,
        status: int,
        headers: Headers | None = None,
        body: bytes | Stream = b"",
        *,
        close: bool = False,
        session: Session | None = None,
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body
        self.close = close
        self.session = session

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.headers!r}, {type(self.body).__name__})"


class BodyReader(Protocol):
    """Receives the request body piece by piece; raise HTTPError (e.g. 413) to refuse.

    A reader may also have `abort()`: the connection calls it, at most once, when the
    body will not be completed (a bad request, an error, the client went away), so an
    upload can delete its half-written file or keep what arrived (tus)."""

    def data(self, chunk: bytes) -> None: ...
    def end(self, trailers: Headers) -> Response | Deferred: ...


Answer = Response | Deferred | BodyReader
App = Callable[[Request], Answer]


def json_response(status: int, value: Any, headers: Headers | None = None) -> Response:
    body = json.dumps(value, separators=(",", ":")).encode()
    return Response(status, [(b"Content-Type", b"application/json"), *(headers or [])], body)


def text_response(status: int, text: str, headers: Headers | None = None) -> Response:
    return Response(
        status, [(b"Content-Type", b"text/plain; charset=utf-8"), *(headers or [])], text.encode()
    )


class _Buffered:
    __slots__ = ("request", "handler", "parts")

    def __init__(self, request: Request, handler: Callable[[Request, bytes, Headers], Answer]):
        self.request = request
        self.handler = handler
        self.parts: list[bytes] = []

    def data(self, chunk: bytes) -> None:
        self.parts.append(chunk)  # bounded by the parser's max_body

    def end(self, trailers: Headers) -> Response | Deferred:
        answer = self.handler(self.request, b"".join(self.parts), trailers)
        assert not isinstance(answer, _Buffered)
        return answer  # type: ignore[return-value]


def buffered(handler: Callable[[Request, bytes, Headers], Answer]) -> App:
    """Adapt `handler(request, body, trailers)` to an app that gets the whole body."""
    return lambda request: _Buffered(request, handler)
