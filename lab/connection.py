"""One HTTP connection, sans I/O: parser, app and writer joined. Every I/O model drives it.

    conn = Connection(app, config, wake)   # wake(): "tick me soon", from any thread
    out = conn.receive_data(data)          # bytes read (b"" = EOF) -> bytes to write
    out = conn.tick()                      # woken, or conn.deadline passed -> bytes
    conn.closing                           # after writing `out`, close the socket
    conn.connection_lost()                 # the peer is gone: free what waits for it

The adapters in `lab/io/` differ only in how they wait: a blocked thread, a selector, an
awaited future. Everything HTTP happens here, so the six models answer byte for byte
alike. Pipelined requests are answered in order: while an answer is pending (a long
poll, a stream), later requests wait in the parser's buffer.
"""
from __future__ import annotations

import logging
from time import monotonic

from protocols.errors import HTTPError
from protocols.http1 import (
    CONTINUE, LAST_CHUNK, NEED_DATA, Data, EndOfMessage, Request, RequestParser,
    encode_chunk, format_response, response_head,
)
from protocols.http1.writer import body_allowed

from .app import App, Response, Session, Wake
from .config import ServerConfig

__all__ = ["Connection"]

log = logging.getLogger("lab")

# Pipelined bytes a client may send ahead while its previous answer is pending.
MAX_PIPELINE_BACKLOG = 1 << 20


class Connection:
    # One per open connection, idle ones included: slots, not a dict per instance.
    __slots__ = ("app", "config", "wake", "parser", "closing", "stopping", "deadline", "_head_started",
                 "_idle_until", "_request", "_reader", "_answer", "_continue_sent", "_pending", "_chunked",
                 "_keep_alive", "_session")

    def __init__(self, app: App, config: ServerConfig, wake: Wake) -> None:
        self.app = app
        self.config = config
        self.wake = wake
        # An app that streams some bodies to disk may carry its own parser limits (a
        # larger max_body); its routes that buffer then enforce the smaller one.
        self.parser = RequestParser(getattr(app, "limits", None) or config.limits)
        self.closing = False
        self.stopping = False  # the server is shutting down: close after this answer
        self.deadline: float | None = monotonic() + config.keepalive_timeout
        self._head_started: float | None = None
        self._idle_until: float | None = self.deadline  # None: a request came since
        self._request: Request | None = None
        self._reader = None  # BodyReader of the current request, if the app wants it
        self._answer = None  # Response or Deferred, held until the body is read
        self._continue_sent = False
        self._pending = None  # the Deferred or Stream we wait on
        self._chunked = True
        self._keep_alive = True
        self._session: Session | None = None

    # -- the face the I/O models see ------------------------------------------------
    @property
    def idle(self) -> bool:
        """Between requests with nothing buffered: safe to close at shutdown."""
        return (
            self._session is None and self._pending is None and self._request is None
            and not self.parser.buffered
        )

    @property
    def waiting(self) -> bool:
        """An answer is pending (or a session may push): watch for wake-ups too."""
        return self._pending is not None or self._session is not None

    def receive_data(self, data: bytes) -> bytes:
        if self._session is not None:
            out = self._session.receive_data(data)
            self._sync_session()
            return out
        self.parser.receive_data(data)
        if self._pending is not None:
            if not data:
                # The client closed while we hold its answer: it is gone.
                self.connection_lost()  # (which also sets closing)
            elif self.parser.buffered > MAX_PIPELINE_BACKLOG:
                self.closing = True
            return b""
        return self._process()

    def tick(self) -> bytes:
        if self._session is not None:
            out = self._session.tick()
            self._sync_session()
            return out
        if self._pending is not None:
            try:
                return self._resume()
            except Exception:
                log.exception("app failed while answering")
                self.connection_lost()
                return b""
        if self.deadline is not None and monotonic() >= self.deadline:
            self.closing = True
            if self._request is not None or self.parser.buffered:
                return self._error(HTTPError(408, "request not received in time"))
        return b""

    def connection_lost(self) -> None:
        self._abort_body()
        if self._session is not None:
            self._session.connection_lost()
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.closing = True

    # -- requests -------------------------------------------------------------------
    def _process(self) -> bytes:
        out: list[bytes] = []
        parser = self.parser
        while self._pending is None and not self.closing and self._session is None:
            try:
                event = parser.next_event()
                kind = type(event)
                if kind is Request:
                    self._start(event)
                elif kind is Data:
                    if self._reader is not None:
                        self._reader.data(event.data)
                elif kind is EndOfMessage:
                    out.append(self._finish(event.trailers))
                elif event is NEED_DATA:
                    if self._request is not None and parser.expect_continue and not self._continue_sent:
                        # RFC 9110 §10.1.1: the client waits for 100 before the body.
                        self._continue_sent = True
                        out.append(CONTINUE)
                    self._set_read_deadline()
                    break
                else:  # ConnectionClosed
                    self.closing = True
            except HTTPError as exc:
                out.append(self._error(exc))
            except Exception:
                log.exception("app failed")
                out.append(self._error(HTTPError(500, "internal error")))
        return b"".join(out)

    def _set_read_deadline(self) -> None:
        now = monotonic()
        if self._request is not None:
            self.deadline = now + self.config.keepalive_timeout  # reading a body
        elif self.parser.buffered:
            if self._head_started is None:
                self._head_started = now
            self.deadline = self._head_started + self.config.header_timeout
        else:
            # Idle: the keep-alive timeout runs from the last answer. Empty lines skipped
            # before a request line (RFC 9112 §2.2) are no request and do not restart
            # it, or a client sending CRLF now and then would hold the connection forever.
            self._head_started = None
            if self._idle_until is None:
                self._idle_until = now + self.config.keepalive_timeout
            self.deadline = self._idle_until

    def _start(self, request: Request) -> None:
        self._request = request
        self._head_started = self._idle_until = None
        self._continue_sent = False
        answer = self.app(request)
        if isinstance(answer, Response) or not hasattr(answer, "end"):
            self._answer, self._reader = answer, None
        else:
            self._answer, self._reader = None, answer

    def _finish(self, trailers) -> bytes:
        answer = self._reader.end(trailers) if self._reader is not None else self._answer
        self._reader = self._answer = None
        if isinstance(answer, Response):
            return self._respond(answer)
        self._pending = answer
        answer.subscribe(self.wake)
        self.deadline = answer.deadline
        return self._resume()

    def _respond(self, response: Response) -> bytes:
        request = self._request
        assert request is not None
        self._request = None
        keep_alive = self.parser.keep_alive and not response.close and not self.stopping
        if response.session is not None and response.status == 101:
            return self._upgrade(response)
        if type(response.body) is not bytes:
            return self._start_stream(request, response, keep_alive)
        headers = response.headers
        if not keep_alive:
            self.closing = True
        elif request.version == b"1.0":
            # RFC 9112 §9.3 / RFC 2068 §19.7.1: an HTTP/1.0 client keeps the
            # connection only if the answer carries the keep-alive token too;
            # without it, it waits for a close that never comes.
            headers = [*headers, (b"Connection", b"keep-alive")]
        return format_response(response.status, headers, response.body,
                               keep_alive=keep_alive, method=request.method)

    def _upgrade(self, response: Response) -> bytes:
        """101: the connection now belongs to the session (WebSocket)."""
        head = response_head(101, response.headers, length=None)
        self._session = response.session
        out = head + self._session.start(self.parser.trailing_data(), self.wake)
        self._sync_session()
        return out

    def _start_stream(self, request: Request, response: Response, keep_alive: bool) -> bytes:
        """A streamed body: chunked for HTTP/1.1, delimited by closing for HTTP/1.0."""
        body = response.body
        self._chunked = request.version == b"1.1"
        self._keep_alive = keep_alive and self._chunked
        head = response_head(response.status, response.headers, length=None,
                             keep_alive=self._keep_alive, chunked=self._chunked)
        if not body_allowed(response.status, request.method):
            body.cancel()
            self.closing = not self._keep_alive
            return head
        self._pending = body
        body.subscribe(self.wake)
        self.deadline = body.deadline
        return head + self._resume()

    def _resume(self) -> bytes:
        pending = self._pending
        if hasattr(pending, "poll"):
            response = pending.poll()
            if response is None:
                self.deadline = pending.deadline
                return b""
            self._pending = None
            return self._respond(response) + self._process()
        out: list[bytes] = []
        while True:
            data = pending.pull()
            if data is None:
                break
            if not data:
                self.deadline = pending.deadline
                return b"".join(out)
            out.append(encode_chunk(data) if self._chunked else data)
        self._pending = None
        if self._chunked:
            out.append(LAST_CHUNK)
        if not self._keep_alive:
            self.closing = True
            return b"".join(out)
        out.append(self._process())
        return b"".join(out)

    def _error(self, exc: HTTPError) -> bytes:
        """The one place a protocol error becomes bytes: its status, then close."""
        self.closing = True
        self._abort_body()
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        # An app may refuse a parsed request (404, 405): if it was HEAD, the answer
        # has a head only (RFC 9110 §9.3.2), like any other answer to HEAD.
        method = self._request.method if self._request is not None else b"GET"
        self._request = None
        body = f"{exc.status} {exc.message}\n".encode()
        headers = [(b"Content-Type", b"text/plain; charset=utf-8"), *exc.headers]
        return format_response(exc.status, headers, body, keep_alive=False, method=method)

    def _abort_body(self) -> None:
        """The body being read will never end (an error, the client left): tell its
        reader, so an upload can delete its half-written file."""
        reader, self._reader = self._reader, None
        abort = getattr(reader, "abort", None)
        if abort is not None:
            try:
                abort()
            except Exception:
                log.exception("body reader failed to abort")

    def _sync_session(self) -> None:
        session = self._session
        assert session is not None
        self.deadline = session.deadline
        self.closing = session.closing

