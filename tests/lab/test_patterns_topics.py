"""Topics: publish, short poll and long poll over the broker, under every I/O model."""
from __future__ import annotations

import base64
import json
import subprocess
import threading
import time

import pytest

from lab.apps.lab import make_lab_app
from lab.broker import Broker
from lab.config import ServerConfig
from protocols.http1 import Request
from tests.lab.patterns_fixtures import (  # noqa: F401  (lab_server is a fixture)
    CONCURRENT_MODELS, http, lab_server, read_response, request_bytes,
    running_server, wait_until,
)

_names = iter(range(10**6))


def fresh_topic() -> str:
    return f"t{next(_names)}-{time.monotonic_ns()}"


def publish(server, topic: str, data: bytes) -> int:
    response = http.post(server.url(f"/topics/{topic}"), content=data)
    assert response.status_code == 201
    return response.json()["offset"]


def waiters(server, topic: str) -> int:
    return http.get(server.url(f"/topics/{topic}/stats")).json()["waiters"]


def test_publish_then_short_poll_with_a_cursor(lab_server):
    topic = fresh_topic()
    assert publish(lab_server, topic, b"one") == 1
    assert publish(lab_server, topic, b"two") == 2
    first = http.get(lab_server.url(f"/topics/{topic}?after=0")).json()
    assert [(m["offset"], m["data"]) for m in first["messages"]] == [(1, "one"), (2, "two")]
    assert first["next"] == 2 and first["pruned"] is False and first["oldest"] == 1
    assert all(abs(m["time"] - time.time()) < 60 for m in first["messages"])
    again = http.get(lab_server.url(f"/topics/{topic}?after={first['next']}")).json()
    assert again["messages"] == [] and again["next"] == 2
    assert http.get(lab_server.url(f"/topics/{topic}?after=1&limit=1")).json()["messages"][0]["data"] == "two"


def test_curl_publishes_and_reads(lab_server):
    topic = fresh_topic()
    out = subprocess.run(["curl", "-sS", "-i", lab_server.url(f"/topics/{topic}"), "-d", "héllo"],
                         capture_output=True, timeout=10, check=True).stdout
    assert out.startswith(b"HTTP/1.1 201 Created") and out.endswith(b'{"offset":1}')
    out = subprocess.run(["curl", "-sS", lab_server.url(f"/topics/{topic}?after=0")],
                         capture_output=True, timeout=10, check=True).stdout
    assert json.loads(out)["messages"][0]["data"] == "héllo"


def test_non_utf8_data_is_shown_replaced_with_the_exact_bytes_in_base64(lab_server):
    topic = fresh_topic()
    publish(lab_server, topic, b"ok\xff\xfe")
    message = http.get(lab_server.url(f"/topics/{topic}")).json()["messages"][0]
    assert message["data"] == "ok\ufffd\ufffd"
    assert base64.b64decode(message["data_base64"]) == b"ok\xff\xfe"


def test_long_poll_that_times_out_returns_an_empty_list(lab_server):
    topic = fresh_topic()
    started = time.monotonic()
    response = http.get(lab_server.url(f"/topics/{topic}?after=0&wait=0.3"))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["messages"] == [] and response.json()["next"] == 0
    assert 0.28 < elapsed < 1.0


def test_long_poll_answers_at_once_when_messages_are_there(lab_server):
    topic = fresh_topic()
    publish(lab_server, topic, b"already")
    started = time.monotonic()
    body = http.get(lab_server.url(f"/topics/{topic}?after=0&wait=10")).json()
    assert body["messages"][0]["data"] == "already"
    assert time.monotonic() - started < 0.5


def test_after_past_the_newest_offset_answers_at_once_with_next(lab_server):
    topic = fresh_topic()
    publish(lab_server, topic, b"x")
    started = time.monotonic()
    body = http.get(lab_server.url(f"/topics/{topic}?after=50&wait=10")).json()
    assert body["messages"] == [] and body["next"] == 1
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("io", CONCURRENT_MODELS)
def test_long_poll_returns_within_50ms_of_a_publish(io, tmp_path):
    with running_server(io, tmp_path) as server:
        topic = fresh_topic()
        with server.connect() as sock:
            sock.sendall(request_bytes("GET", f"/topics/{topic}?after=0&wait=10"))
            assert wait_until(lambda: waiters(server, topic) == 1, 3)
            published = time.monotonic()
            publish(server, topic, b"now")
            status, _, body = read_response(sock)
            delay = time.monotonic() - published
        assert status == 200 and json.loads(body)["messages"][0]["data"] == "now"
        assert delay < 0.05, f"answered {delay * 1000:.1f} ms after the publish"
        assert wait_until(lambda: waiters(server, topic) == 0, 2)


def test_blocking_serves_long_polls_one_at_a_time(tmp_path):
    """blocking: a held long poll holds the whole server. A publish from another client
    waits in the listen backlog, so the poll can only time out (empty); then the publish
    goes through and the next poll finds the message."""
    with running_server("blocking", tmp_path) as server:
        topic = fresh_topic()
        with server.connect() as sock:
            sock.sendall(request_bytes("GET", f"/topics/{topic}?after=0&wait=0.6",
                                       {"Connection": "close"}))
            time.sleep(0.1)
            result = {}
            started = time.monotonic()
            publisher = threading.Thread(target=lambda: result.update(
                offset=publish(server, topic, b"late"), at=time.monotonic()))
            publisher.start()
            status, _, body = read_response(sock)
            polled_at = time.monotonic()
        publisher.join(10)
        assert status == 200 and json.loads(body)["messages"] == []  # timed out, empty
        assert result["offset"] == 1 and result["at"] >= polled_at - 0.05
        assert result["at"] - started > 0.4  # the publish waited for the poll
        found = http.get(server.url(f"/topics/{topic}?after=0&wait=5")).json()
        assert found["messages"][0]["data"] == "late"


@pytest.mark.parametrize("query", ["after=-1", "after=x", "after=1.5", "wait=abc", "wait=-2",
                                   "limit=z"])
def test_bad_numbers_are_400(lab_server, query):
    assert http.get(lab_server.url(f"/topics/t?{query}")).status_code == 400


@pytest.mark.parametrize("name", ["a%20b", "%C3%A9", "x" * 129])
def test_bad_topic_names_are_400(lab_server, name):
    assert http.get(lab_server.url(f"/topics/{name}")).status_code == 400
    assert http.post(lab_server.url(f"/topics/{name}"), content=b"m").status_code == 400


def test_topic_405_with_allow(lab_server):
    response = http.delete(lab_server.url("/topics/t"))
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, POST"


def test_a_message_past_max_body_is_413_and_nothing_is_published(tmp_path):
    with running_server("epoll", tmp_path, "--max-body", "100") as server:
        topic = fresh_topic()
        assert http.post(server.url(f"/topics/{topic}"), content=b"x" * 101).status_code == 413
        chunked = iter([b"x" * 60, b"x" * 60])
        assert http.post(server.url(f"/topics/{topic}"), content=chunked).status_code == 413
        assert http.get(server.url(f"/topics/{topic}/stats")).json()["last"] == 0
        assert publish(server, topic, b"x" * 100) == 1


@pytest.mark.parametrize("io", CONCURRENT_MODELS)
def test_dropped_long_polls_leave_no_waiter(io, tmp_path):
    with running_server(io, tmp_path) as server:
        topic = fresh_topic()
        count = 10 if io == "pool" else 20  # pool: 16 workers, and /stats needs one free
        socks = [server.connect() for _ in range(count)]
        for sock in socks:
            sock.sendall(request_bytes("GET", f"/topics/{topic}?after=0&wait=30"))
        assert wait_until(lambda: waiters(server, topic) == count, 5)
        for sock in socks:
            sock.close()
        assert wait_until(lambda: waiters(server, topic) == 0, 5)
        assert http.get(server.url("/stats")).json()["topic_waiters"] == 0


# -- in process: the app without sockets, for retention ------------------------------
def call(app, method: str, target: str, body: bytes = b""):
    request = Request(method.encode(), target.encode(), b"1.1",
                      [(b"Host", b"x"), (b"Content-Length", str(len(body)).encode())])
    answer = app(request)
    if hasattr(answer, "end"):
        answer.data(body)
        answer = answer.end([])
    return answer.status, json.loads(answer.body)


def test_pruned_offsets_are_answered_with_oldest_and_pruned(tmp_path):
    app = make_lab_app(ServerConfig(data_dir=tmp_path), broker=Broker(max_messages=3))
    for n in range(5):
        assert call(app, "POST", "/topics/t", b"m%d" % n) == (201, {"offset": n + 1})
    status, body = call(app, "GET", "/topics/t?after=0")
    assert status == 200 and body["pruned"] is True and body["oldest"] == 3
    assert [m["offset"] for m in body["messages"]] == [3, 4, 5]
    status, body = call(app, "GET", "/topics/t?after=2")
    assert body["pruned"] is False and len(body["messages"]) == 3


def test_the_lab_app_shares_the_broker_it_was_given(tmp_path):
    broker = Broker()
    app = make_lab_app(ServerConfig(data_dir=tmp_path), broker=broker)
    assert app.broker is broker
    broker.publish("shared", b"from elsewhere")
    assert call(app, "GET", "/topics/shared")[1]["messages"][0]["data"] == "from elsewhere"
    assert make_lab_app(ServerConfig(data_dir=tmp_path)).broker is not broker
