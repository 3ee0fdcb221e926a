"""Exercise 09's "in the lab" stage: the lab's SSE endpoint, ``GET /topics/{t}/events``,
served with the student's ``sse.py`` in place of ``protocols/sse.py``.

The endpoint (``lab/patterns/sse.py``) is the lab's; every byte of every event it writes
comes from the student's encoder. The grader reads the stream on a raw socket, takes
the chunked coding off, and parses the body with the lab's own spec-exact
``EventStreamParser`` (never the student's), so what is judged is what a browser's
EventSource would see: each event flushed as it is published, ``id`` = the broker
offset, a reconnect with ``Last-Event-ID`` resuming without gap or duplicate, and the
heartbeat comment on a quiet stream (``--sse-heartbeat 0.5``).
"""
from __future__ import annotations

import socket
import time

from protocols.sse import Comment, Event, EventStreamParser

from .. import feedback
from .labserver import Scenario, ScenarioCheck, curl_line, request_bytes
from .net import connect

__all__ = ["ENDPOINT_CHECKS", "SseStream"]

SERVE = ("--app", "lab", "--io", "epoll", "--data-dir", "data", "--sse-heartbeat", "0.5")
R_STREAM = ("WHATWG HTML §9.2: GET /topics/{t}/events answers 200 text/event-stream and each published message "
            "becomes one event, id = its offset, sent as soon as it is published")
R_RESUME = ("WHATWG HTML §9.2.4: a reconnecting EventSource sends Last-Event-ID; the stream resumes right after "
            "that id: no gap, no duplicate")
R_HEARTBEAT = "WHATWG HTML §9.2.7: a comment line every so often keeps an idle stream open through proxies"


class SseStream:
    """One ``GET /topics/{t}/events`` read as an EventSource would read it."""

    def __init__(self, s: Scenario, topic: str, headers: tuple = ()) -> None:
        self.sent = request_bytes("GET", f"/topics/{topic}/events", headers=headers)
        self.curl = curl_line("GET", f"/topics/{topic}/events").replace("curl -si", "curl -sN")
        self.sock = connect(s.host, s.port, 5.0, s.netns_pid)
        self.sock.sendall(self.sent)
        self.raw = bytearray()
        self.head: bytes | None = None
        self.status: int | None = None
        self.headers: list = []
        self.chunked = False
        self._body = bytearray()  # undecoded body bytes
        self.body = bytearray()  # the event stream, chunked coding removed
        self.parser = EventStreamParser(comments=True)
        self.items: list = []
        self.eof = False

    def _read(self, timeout: float) -> bool:
        self.sock.settimeout(max(0.001, timeout))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.raw += data
        if self.head is None:
            end = self.raw.find(b"\r\n\r\n")
            if end < 0:
                return True
            self.head = bytes(self.raw[: end + 4])
            lines = self.head.split(b"\r\n")
            parts = lines[0].split(b" ")
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            self.headers = [(n.strip().lower(), v.strip()) for n, _, v in (x.partition(b":") for x in lines[1:] if x)]
            self.chunked = any(n == b"transfer-encoding" and b"chunked" in v.lower() for n, v in self.headers)
            data = bytes(self.raw[end + 4:])
        self._body += data
        self._decode()
        return True

    def _decode(self) -> None:
        if not self.chunked:
            fresh, self._body = bytes(self._body), bytearray()
        else:
            out = bytearray()
            while True:
                nl = self._body.find(b"\r\n")
                if nl < 0:
                    break
                try:
                    size = int(bytes(self._body[:nl]).split(b";")[0], 16)
                except ValueError:
                    break
                if len(self._body) < nl + 2 + size + 2:
                    break
                out += self._body[nl + 2: nl + 2 + size]
                del self._body[: nl + 2 + size + 2]
                if size == 0:
                    break
            fresh = bytes(out)
        self.body += fresh
        self.items += self.parser.receive_data(fresh)

    def next_item(self, timeout: float, comments: bool = False):
        """The next Event (or Comment, if asked), None on timeout, "eof" on close."""
        deadline = time.monotonic() + timeout
        while True:
            while self.items:
                item = self.items.pop(0)
                if comments or isinstance(item, Event):
                    return item
            if self.eof:
                return "eof"
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._read(left)

    def shown(self) -> str:
        return feedback.escape(bytes(self.raw[-600:]))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _topic(s: Scenario, name: str) -> str:
    return f"{name}-{s.rng.randrange(16**6):06x}"


def _describe(item) -> str:
    if item is None:
        return "(nothing before the timeout)"
    if item == "eof":
        return "(the server closed the stream)"
    if isinstance(item, Comment):
        return f"Comment({item.text!r})"
    return f"Event(data={item.data!r}, id={item.last_event_id!r}, type={item.type!r})"


def _open(s: Scenario, topic: str, headers: tuple = ()) -> SseStream:
    st = SseStream(s, topic, headers)
    deadline = time.monotonic() + 2.0
    while st.head is None and not st.eof and time.monotonic() < deadline:
        st._read(deadline - time.monotonic())
    ctype = dict(st.headers).get(b"content-type", b"")
    ok = st.status == 200 and ctype.startswith(b"text/event-stream")
    s.expect("stream-opens", ok, R_STREAM, expected="HTTP/1.1 200 ... Content-Type: text/event-stream",
             got=feedback.escape(st.head or bytes(st.raw)) or "(nothing)", sent=feedback.escape(st.sent), fatal=True)
    return st


def _expect_event(s: Scenario, st: SseStream, id: str, data: str, offset: int, rule: str, sent: str,
                  within: float = 1.0) -> None:
    item = st.next_item(within)
    ok = isinstance(item, Event) and item.data == data and item.last_event_id == str(offset)
    hint = ""
    if item is None:
        hint = ("No complete event arrived: an event is dispatched by its blank line; check encode_event ends "
                "every block with one.")
    elif isinstance(item, Event) and item.data != data:
        hint = "The event's data differs from the message: check how encode_event writes `data:` lines."
    elif isinstance(item, Event):
        hint = "The event's id must be the message's offset: check how encode_event writes `id:`."
    s.expect(id, ok, rule, expected=f"Event(data={data!r}, id='{offset}') within {within:g} s",
             got=_describe(item) + "\n" + st.shown(), hint=hint, sent=sent)


def events_flushed_as_published(s: Scenario) -> None:
    topic = _topic(s, "sse")
    st = _open(s, topic)
    for i in range(1, 4):
        data = f"update {i}: {s.rng.randrange(10**6)}"
        if i == 3:
            data += "\nsecond line"
        reply = s.request("POST", f"/topics/{topic}", data.encode())
        s.expect_status(f"publish-{i}", reply, 201, R_STREAM)
        _expect_event(s, st, f"event-{i}", data, i, R_STREAM, f"POST /topics/{topic} {data!r} (another connection)")
    st.close()


def last_event_id_resume(s: Scenario) -> None:
    topic = _topic(s, "resume")
    datas = [f"m{i} {s.rng.randrange(1000)}" for i in range(1, 5)]
    for d in datas:
        s.request("POST", f"/topics/{topic}", d.encode())
    st = _open(s, topic, headers=(("Last-Event-ID", "2"),))
    for i in (3, 4):
        _expect_event(s, st, f"resumed-{i}", datas[i - 1], i, R_RESUME, "GET .../events with Last-Event-ID: 2")
    s.request("POST", f"/topics/{topic}", b"fifth")
    _expect_event(s, st, "then-live-5", "fifth", 5, R_RESUME, f"POST /topics/{topic} 'fifth'")
    st.close()


ENDPOINT_CHECKS = {
    "lab-streams-events": ScenarioCheck(events_flushed_as_published, SERVE),
    "lab-resumes-after-last-event-id": ScenarioCheck(last_event_id_resume, SERVE),
}
