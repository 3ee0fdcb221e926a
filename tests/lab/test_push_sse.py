"""`GET /topics/{t}/events` (WHATWG HTML §9.2) under the I/O models, read with the lab's
own client (the spec's parser), raw sockets and httpx-sse."""
from __future__ import annotations

import json
import socket
import struct
import time

import httpx
import pytest
from httpx_sse import connect_sse

from protocols.sse import Comment
from lab.clients.push import SSEClient, get_json, publish
from tests.lab.push_fixtures import IO_MODELS, push_server, wait_until

pytestmark = pytest.mark.timeout(60)

NON_BLOCKING = [io for io in IO_MODELS if io != "blocking"]


@pytest.fixture(scope="module", params=NON_BLOCKING)
def server(request):
    with push_server(request.param, "--sse-heartbeat", "0.3") as server:
        yield server


def fresh(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def waiters(server, topic: str) -> int:
    return get_json(server.address, f"/topics/{topic}/stats")["waiters"]


def raw_stream(server, target: str, headers: bytes = b"", *, until: bytes,
               version: bytes = b"1.1", timeout: float = 5.0) -> bytes:
    """The raw response bytes, read until `until` appears."""
    with socket.create_connection(server.address, timeout=timeout) as sock:
        sock.sendall(b"GET %s HTTP/%s\r\nHost: x\r\n%s\r\n" % (target.encode(), version, headers))
        data = b""
        while until not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_head_is_event_stream_no_store_chunked_without_length(server):
    topic = fresh("head")
    publish(server.address, topic, b"hello\nworld")
    data = raw_stream(server, f"/topics/{topic}/events", until=b"world\n\n")
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert b"Content-Type: text/event-stream" in lines
    assert b"Cache-Control: no-store" in lines
    assert b"Transfer-Encoding: chunked" in lines
    assert not any(line.lower().startswith(b"content-length") for line in lines)
    # De-chunked: retry once, first, then the event with id = offset and one data line per line.
    text = b"".join(body.split(b"\r\n")[1::2])
    assert text == b"retry: 1000\nid: 1\ndata: hello\ndata: world\n\n"


def test_head_gets_the_head_only_and_subscribes_nobody(server):
    topic = fresh("head-only")
    with socket.create_connection(server.address, timeout=5) as sock:
        sock.sendall(f"HEAD /topics/{topic}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200 OK\r\n") and data.endswith(b"\r\n\r\n")
        assert b"Content-Type: text/event-stream" in data
        assert waiters(server, topic) == 0
        sock.sendall(b"GET /topics/%s/stats HTTP/1.1\r\nHost: x\r\n\r\n" % topic.encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")  # the connection lives on


def test_http10_client_gets_a_close_delimited_stream(server):
    topic = fresh("old")
    publish(server.address, topic, b"x")
    data = raw_stream(server, f"/topics/{topic}/events", version=b"1.0", until=b"data: x\n\n")
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"Transfer-Encoding" not in head and b"Connection: close" in head
    assert body == b"retry: 1000\nid: 1\ndata: x\n\n"


def test_events_are_flushed_as_published_in_order(server):
    topic = fresh("live")
    with SSEClient(server.address, topic) as sse:
        assert sse.status == 200
        for i in range(1, 6):
            sent = time.monotonic()
            publish(server.address, topic, b"m%d" % i)
            event = sse.next_event(timeout=5)
            assert (event.type, event.data, event.last_event_id) == ("message", f"m{i}", str(i))
            assert time.monotonic() - sent < 1.0
        assert sse.events.retry == 1000


@pytest.mark.parametrize("how", ["header", "query after", "query lastEventId", "header beats query"])
def test_resume_after_an_offset_has_no_gap_and_no_duplicate(server, how):
    topic = fresh("resume")
    for i in range(1, 6):
        publish(server.address, topic, b"m%d" % i)
    kwargs: dict = {}
    if how == "header":
        kwargs = {"last_event_id": "3"}
    elif how == "query after":
        kwargs = {"path": f"/topics/{topic}/events?after=3"}
    elif how == "query lastEventId":
        kwargs = {"path": f"/topics/{topic}/events?lastEventId=3"}
    else:  # an EventSource reconnects to the same URL, with the header: the header wins
        kwargs = {"path": f"/topics/{topic}/events?after=0", "last_event_id": "3"}
    with SSEClient(server.address, topic, **kwargs) as sse:
        got = [(e.last_event_id, e.data) for e in sse.iter_events(2, timeout=5)]
        publish(server.address, topic, b"m6")
        got.append((lambda e: (e.last_event_id, e.data))(sse.next_event(timeout=5)))
    assert got == [("4", "m4"), ("5", "m5"), ("6", "m6")]


def test_an_id_past_the_newest_offset_starts_at_the_newest(server):
    topic = fresh("ahead")
    publish(server.address, topic, b"m1")
    with SSEClient(server.address, topic, last_event_id="999") as sse:
        publish(server.address, topic, b"m2")
        event = sse.next_event(timeout=5)
    assert (event.last_event_id, event.data) == ("2", "m2")


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1.5", b"9" * 30])
def test_a_last_event_id_that_is_not_an_offset_is_400(server, value):
    data = raw_stream(server, "/topics/t/events", b"Last-Event-ID: %s\r\n" % value, until=b"\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")


def test_bad_topic_name_is_400(server):
    assert raw_stream(server, "/topics/a%20b/events", until=b"\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def test_data_the_format_cannot_carry_is_documented_not_lost_silently(server):
    topic = fresh("odd")
    publish(server.address, topic, b"bad \xff\xfe utf-8")
    publish(server.address, topic, b"crlf\r\nlone cr\rend")
    publish(server.address, topic, b"")
    with SSEClient(server.address, topic) as sse:
        got = [e.data for e in sse.iter_events(3, timeout=5)]
    # Not UTF-8: U+FFFD per bad byte. CR and CRLF are the format's line ends: LF.
    # An empty message is an event with empty data.
    assert got == ["bad \ufffd\ufffd utf-8", "crlf\nlone cr\nend", ""]


def test_heartbeat_comment_after_the_configured_silence(server):
    topic = fresh("quiet")
    with SSEClient(server.address, topic, comments=True) as sse:
        started = time.monotonic()
        first = sse.next_event(timeout=3)
        second = sse.next_event(timeout=3)
        elapsed = time.monotonic() - started
    assert first == second == Comment("heartbeat")
    assert 0.5 <= elapsed < 2.0  # two beats of 0.3 s (plus scheduling slack)


def test_pruned_offsets_are_announced_then_the_stream_goes_on_from_the_oldest(server):
    topic = fresh("pruned")
    # The broker keeps at most 16 MiB per topic: a second 9 MiB message drops the first.
    publish(server.address, topic, b"a" * (9 << 20))
    publish(server.address, topic, b"b" * (9 << 20))
    publish(server.address, topic, b"small")
    with SSEClient(server.address, topic, timeout=10) as sse:
        notice = sse.next_event(timeout=10)
        second = sse.next_event(timeout=10)
        third = sse.next_event(timeout=10)
    assert notice.type == "pruned" and json.loads(notice.data) == {"after": 0, "oldest": 2}
    assert notice.last_event_id == ""  # the notice carries no id
    assert (second.last_event_id, len(second.data)) == ("2", 9 << 20)
    assert (third.last_event_id, third.data) == ("3", "small")


def test_httpx_sse_consumes_the_stream(server):
    topic = fresh("httpx")
    publish(server.address, topic, b"one")
    publish(server.address, topic, b"two\nlines")
    with httpx.Client(timeout=5) as client:
        with connect_sse(client, "GET", server.url(f"/topics/{topic}/events")) as source:
            assert source.response.headers["content-type"] == "text/event-stream"
            events = []
            for event in source.iter_sse():
                events.append((event.event, event.id, event.data, event.retry))
                if len(events) == 2:
                    break
    assert events == [("message", "1", "one", 1000), ("message", "2", "two\nlines", None)]


def test_a_client_that_leaves_is_noticed_and_unsubscribed(server):
    topic = fresh("leave")
    first = SSEClient(server.address, topic)
    second = SSEClient(server.address, topic)
    assert wait_until(lambda: waiters(server, topic) == 2, 5)
    first.close()  # a clean FIN on a quiet topic
    assert wait_until(lambda: waiters(server, topic) == 1, 5)
    second.io.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    second.close()  # a RST
    assert wait_until(lambda: waiters(server, topic) == 0, 5)


def test_blocking_streams_to_one_client_and_nobody_can_publish_meanwhile():
    """`--io blocking` serves one connection to its end: an open stream holds the whole
    server, so any other request (the publish that would feed it) waits in the backlog.
    Shown, not hidden."""
    with push_server("blocking") as server:
        publish(server.address, "solo", b"before")
        with SSEClient(server.address, "solo") as sse:
            assert sse.next_event(timeout=5).data == "before"
            with socket.create_connection(server.address, timeout=0.5) as other:
                other.sendall(b"GET /topics/solo/stats HTTP/1.1\r\nHost: x\r\n\r\n")
                with pytest.raises(TimeoutError):
                    other.recv(1)
        assert publish(server.address, "solo", b"after") == 2  # served once the stream is gone
