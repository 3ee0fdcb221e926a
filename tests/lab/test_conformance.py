"""One conformance suite, run against all six I/O models over 127.0.0.1.

Every test takes the module-scoped `model` fixture, so each runs once per model
(blocking, threads, pool, epoll, asyncio, uvloop). The models share one sans-I/O
`Connection`, so they must answer byte for byte alike; what differs is only how they
wait, and the last tests show that difference on purpose (the blocking model's one
connection at a time, the pool's bounded workers).

After each rejection the server must close that connection and go on serving others;
after every module, `serve` stops each server with SIGTERM and checks it exits 0
without a traceback, so a crash anywhere fails the suite.
"""
from __future__ import annotations

import base64
import json
import os
import re
import select
import signal
import socket
import threading
import time

import pytest

from .conftest import STRICT, Client, exchange, get_ok

IMF_FIXDATE = rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT"
HOST = (b"Host", b"lab.test")


def echoed(reply) -> dict:
    assert reply.status == 200, reply
    assert reply.header(b"content-type") == b"application/json"
    return json.loads(reply.body)


def body_of(echo: dict) -> bytes:
    return base64.b64decode(echo["body_base64"])


# -- valid requests: the exact shape of an answer ------------------------------------------
def test_hello_answer_is_byte_exact(model, serve):
    server = serve("hello")
    with Client(server.address) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: lab.test\r\n\r\n")
        reply = c.read_response()
        wire = bytes(c.received)
    assert reply.status == 200 and reply.body == b"Hello, World!"
    assert re.fullmatch(
        rb"HTTP/1\.1 200 OK\r\nDate: " + IMF_FIXDATE
        + rb"\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!",
        wire,
    ), wire


def test_echo_answer_is_the_parsed_request_as_json(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"POST /a/b?c=d&e HTTP/1.1\r\nHost: lab.test\r\nX-Spaces:   v a l  \r\n"
               b"x-lower: 1\r\nContent-Length: 5\r\n\r\nhello", b"POST")
        reply = c.read_response()
        head, _, body = bytes(c.received).partition(b"\r\n\r\n")
    assert re.fullmatch(
        rb"HTTP/1\.1 200 OK\r\nDate: " + IMF_FIXDATE
        + rb"\r\nContent-Type: application/json\r\nContent-Length: \d+", head), head
    assert int(reply.header(b"content-length")) == len(body) == len(reply.body)
    assert echoed(reply) == {
        "method": "POST", "target": "/a/b?c=d&e", "version": "HTTP/1.1",
        "headers": [["Host", "lab.test"], ["X-Spaces", "v a l"], ["x-lower", "1"],
                    ["Content-Length", "5"]],
        "body_base64": base64.b64encode(b"hello").decode(), "trailers": [],
    }


def test_keep_alive_serves_several_requests_on_one_connection(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        for i in range(5):
            c.request(b"POST", b"/n/%d" % i, [HOST], body=b"x" * i)
            reply = c.read_response()
            assert not reply.closes
            echo = echoed(reply)
            assert echo["target"] == f"/n/{i}" and body_of(echo) == b"x" * i
        c.assert_silent(0.05)  # still open


PIPELINE = [
    (b"GET", b"GET /p/0 HTTP/1.1\r\nHost: lab.test\r\n\r\n"),
    (b"POST", b"POST /p/1 HTTP/1.1\r\nHost: lab.test\r\nContent-Length: 3\r\n\r\nabc"),
    (b"HEAD", b"HEAD /p/2 HTTP/1.1\r\nHost: lab.test\r\n\r\n"),
    (b"PUT", b"PUT /p/3 HTTP/1.1\r\nHost: lab.test\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"2\r\nde\r\n1;ext=1\r\nf\r\n0\r\nX-T: t\r\n\r\n"),
    (b"DELETE", b"DELETE /p/4 HTTP/1.1\r\nHost: lab.test\r\n\r\n"),
]


def _check_pipeline_answers(client: Client) -> None:
    replies = [client.read_response() for _ in PIPELINE]
    assert [r.status for r in replies] == [200] * len(PIPELINE)
    assert replies[2].body == b"" and int(replies[2].header(b"content-length")) > 0
    for i in (0, 1, 3, 4):
        assert echoed(replies[i])["target"] == f"/p/{i}", "answers out of order"
    assert body_of(echoed(replies[1])) == b"abc"
    assert body_of(echoed(replies[3])) == b"def"
    assert echoed(replies[3])["trailers"] == [["X-T", "t"]]


def test_pipelined_requests_in_one_write_are_answered_in_order(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"".join(raw for _, raw in PIPELINE), *(m for m, _ in PIPELINE))
        _check_pipeline_answers(c)
        c.assert_silent(0.05)


@pytest.mark.parametrize("pieces", [[1], [2, 3, 5, 7], [13, 1, 17], [100, 1]],
                         ids=["bytewise", "primes", "odd", "big-small"])
def test_pipelined_requests_split_at_odd_boundaries(model, serve, pieces):
    server = serve("echo")
    data = b"".join(raw for _, raw in PIPELINE)
    with Client(server.address) as c:
        for method, _ in PIPELINE:
            c.parser.expect(method)
        # A short pause now and then so the pieces reach the server as separate reads.
        c.send_slowly(data, pieces, pause=0.0005 if pieces != [1] else 0.0)
        _check_pipeline_answers(c)


def test_connection_close_is_answered_with_close_then_closed(model, serve):
    server = serve("hello")
    with Client(server.address) as c:
        c.request(b"GET", b"/", [HOST, (b"Connection", b"close")])
        reply = c.read_response()
        assert reply.status == 200 and reply.closes
        c.assert_closed()


def test_pipelined_request_after_connection_close_is_not_answered(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
               b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", b"GET", b"GET")
        reply = c.read_response()
        assert echoed(reply)["target"] == "/1" and reply.closes
        c.assert_closed()


def test_http10_closes_without_keep_alive__rfc9112_9_3(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"GET /old HTTP/1.0\r\n\r\n")
        reply = c.read_response()
        assert echoed(reply)["version"] == "HTTP/1.0"
        assert reply.closes
        c.assert_closed()


def test_http10_keep_alive_is_honoured_and_announced(model, serve):
    # RFC 9112 §9.3 and RFC 2068 §19.7.1: an HTTP/1.0 client keeps the connection only
    # if the answer carries the keep-alive token; without it, it waits for a close.
    server = serve("echo")
    with Client(server.address) as c:
        for i in range(3):
            c.send(b"GET /old/%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i)
            reply = c.read_response()
            assert echoed(reply)["target"] == f"/old/{i}"
            assert reply.header(b"connection").lower() == b"keep-alive"
        c.send(b"GET /last HTTP/1.0\r\n\r\n")
        assert c.read_response().closes
        c.assert_closed()


def test_expect_100_continue_comes_before_the_body__rfc9110_10_1_1(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"PUT /up HTTP/1.1\r\nHost: lab.test\r\nExpect: 100-continue\r\n"
               b"Content-Length: 10\r\n\r\n", b"PUT")
        interim = c.read_response()  # the body has not been sent
        assert (interim.status, interim.body) == (100, b"")
        assert bytes(c.received) == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"0123456789")
        reply = c.read_response()
        assert body_of(echoed(reply)) == b"0123456789"
        # and the connection goes on
        c.request(b"GET", b"/after", [HOST])
        assert echoed(c.read_response())["target"] == "/after"


def test_expect_100_continue_with_body_too_large_gets_413_without_100(model, serve):
    server = serve("echo", *STRICT)
    with Client(server.address) as c:
        c.send(b"PUT /up HTTP/1.1\r\nHost: lab.test\r\nExpect: 100-continue\r\n"
               b"Content-Length: 5000\r\n\r\n", b"PUT")
        reply = c.read_response()
        assert reply.status == 413 and reply.closes
        c.assert_closed()


def test_head_has_get_headers_without_body_and_keeps_the_connection(model, serve):
    server = serve("hello")
    with Client(server.address) as c:
        c.send(b"HEAD / HTTP/1.1\r\nHost: lab.test\r\n\r\n", b"HEAD")
        reply = c.read_response()
        assert reply.status == 200 and reply.body == b""
        assert reply.header(b"content-length") == b"13"
        assert reply.header(b"content-type") == b"text/plain"
        assert bytes(c.received).endswith(b"\r\n\r\n"), "a body after HEAD's head"
        c.request(b"GET", b"/", [HOST])
        assert c.read_response().body == b"Hello, World!"


def test_chunked_request_body_is_dechunked_with_trailers__rfc9112_7_1(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"POST /c HTTP/1.1\r\nHost: lab.test\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n"
               b"1;name=value;quoted=\"a b\"\r\n,\r\n"
               b"A\r\n wonderful\r\n"
               b"0\r\nX-Checksum: abc\r\nX-Other:  two words \r\n\r\n", b"POST")
        echo = echoed(c.read_response())
        assert body_of(echo) == b"hello, wonderful"
        assert echo["trailers"] == [["X-Checksum", "abc"], ["X-Other", "two words"]]
        assert ["Transfer-Encoding", "chunked"] in echo["headers"]
        c.request(b"GET", b"/next", [HOST])  # the connection is still in step
        assert echoed(c.read_response())["target"] == "/next"


def test_many_pipelined_requests_in_one_write(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"".join(b"GET /many/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(100)),
               *[b"GET"] * 100)
        for i in range(100):
            assert echoed(c.read_response())["target"] == f"/many/{i}"


def test_empty_lines_before_a_request_are_ignored__rfc9112_2_2(model, serve):
    # Some old clients send a stray CRLF after a POST body.
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"\r\nPOST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab\r\n"
               b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n", b"POST", b"GET")
        assert echoed(c.read_response())["target"] == "/1"
        assert echoed(c.read_response())["target"] == "/2"


def test_client_half_close_still_gets_its_answers(model, serve):
    # A client may send its requests, then shut down its sending side (SHUT_WR): the
    # server answers what it received, then closes.
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 3\r\n\r\nabc", b"GET", b"POST")
        c.sock.shutdown(socket.SHUT_WR)
        assert echoed(c.read_response())["target"] == "/1"
        assert body_of(echoed(c.read_response())) == b"abc"
        c.assert_closed()


def test_http10_expect_is_ignored__rfc9110_10_1_1(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"POST /old HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok", b"POST")
        reply = c.read_response()
        assert reply.status == 200 and body_of(echoed(reply)) == b"ok"
        assert not bytes(c.received).startswith(b"HTTP/1.1 100")


def test_absolute_and_asterisk_form_targets__rfc9112_3_2(model, serve):
    server = serve("lab")
    with Client(server.address) as c:
        c.send(b"GET http://lab.test/echo/abs?q=1 HTTP/1.1\r\nHost: lab.test\r\n\r\n")
        assert echoed(c.read_response())["target"] == "http://lab.test/echo/abs?q=1"
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: lab.test\r\n\r\n")
        assert echoed(c.read_response())["target"] == "*"


def test_large_body_arrives_whole(model, serve):
    server = serve("echo")
    body = bytes(range(256)) * 1024  # 256 KiB, more than one read
    with Client(server.address) as c:
        c.request(b"POST", b"/big", [HOST], body=body)
        assert body_of(echoed(c.read_response())) == body


def test_a_large_answer_waits_for_a_client_slow_to_read_it(model, serve):
    # 6 MiB echoed is 8 MiB of JSON, more than the kernel buffers hold: the rest waits
    # in the server until the client reads, however late (within the timeouts).
    server = serve("echo")
    body = os.urandom(6 << 20)
    with Client(server.address, timeout=10.0) as c:
        c.request(b"POST", b"/big", [HOST], body=body)
        time.sleep(0.5)
        reply = c.read_response()
        assert body_of(echoed(reply)) == body
        c.request(b"GET", b"/after", [HOST])  # and the connection goes on
        assert echoed(c.read_response())["target"] == "/after"


# -- rejections: status, Connection: close, closed, and the server goes on ---------------
def _req(head: bytes, body: bytes = b"") -> bytes:
    return head.replace(b"\n", b"\r\n") + b"\r\n" + body


REJECTIONS = {
    # name: (request bytes, status, server options)
    "cl-and-te__rfc9112_6_1": (_req(b"POST / HTTP/1.1\nHost: x\nContent-Length: 5\nTransfer-Encoding: chunked\n"),
                               400, ()),
    "differing-cl__rfc9112_6_3": (_req(b"POST / HTTP/1.1\nHost: x\nContent-Length: 5\nContent-Length: 6\n", b"hello!"),
                                  400, ()),
    "differing-cl-list": (_req(b"POST / HTTP/1.1\nHost: x\nContent-Length: 5, 6\n", b"hello!"), 400, ()),
    "malformed-cl": (_req(b"POST / HTTP/1.1\nHost: x\nContent-Length: -5\n", b"hello"), 400, ()),
    "gzip-te-501__rfc9112_6_1": (_req(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: gzip, chunked\n"),
                                 501, ()),
    "te-in-http10__rfc9112_6_1": (_req(b"POST / HTTP/1.0\nTransfer-Encoding: chunked\n", b"0\r\n\r\n"),
                                  400, ()),
    "chunked-not-last": (_req(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked, chunked\n"), 400, ()),
    "space-before-colon__rfc9112_5_1": (_req(b"GET / HTTP/1.1\nHost: x\nX-A : b\n"), 400, ()),
    "obs-fold__rfc9112_5_2": (_req(b"GET / HTTP/1.1\nHost: x\nX-A: b\n c\n"), 400, ()),
    "bare-cr__rfc9112_2_2": (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n", 400, ()),
    "nul-in-value": (_req(b"GET / HTTP/1.1\nHost: x\nX-A: b\x00c\n"), 400, ()),
    "bad-method-token": (_req(b"GE@T / HTTP/1.1\nHost: x\n"), 400, ()),
    "bad-field-name-token": (_req(b"GET / HTTP/1.1\nHost: x\nX(A): b\n"), 400, ()),
    "missing-host__rfc9112_3_2": (_req(b"GET / HTTP/1.1\n"), 400, ()),
    "two-hosts__rfc9112_3_2": (_req(b"GET / HTTP/1.1\nHost: x\nHost: y\n"), 400, ()),
    "http2-version-505": (_req(b"GET / HTTP/2.0\nHost: x\n"), 505, ()),
    "bad-chunk-size": (_req(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n", b"zz\r\nab\r\n0\r\n\r\n"),
                       400, ()),
    "chunk-size-overflow": (_req(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n",
                                 b"1" + b"0" * 20 + b"\r\nab\r\n0\r\n\r\n"), 400, ()),
    "no-crlf-after-chunk-data": (_req(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n",
                                      b"3\r\nabcX\r\n0\r\n\r\n"), 400, ()),
    "unknown-expectation-417": (_req(b"POST / HTTP/1.1\nHost: x\nExpect: 200-ok\nContent-Length: 1\n", b"a"),
                                417, ()),
    "raw-utf8-in-target": (_req("GET /caf\u00e9 HTTP/1.1\nHost: x\n".encode()), 400, ()),
    "too-many-header-fields-431": (_req(b"GET / HTTP/1.1\nHost: x\n" + b"X-N: n\n" * 101), 431, ()),
    "trailer-section-too-large-431": (_req(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n",
                                           b"1\r\na\r\n0\r\nX-T: " + b"t" * 2000 + b"\r\n\r\n"), 431, STRICT),
    "request-line-too-long-414": (_req(b"GET /" + b"a" * 400 + b" HTTP/1.1\nHost: x\n"), 414, STRICT),
    "header-section-too-large-431": (_req(b"GET / HTTP/1.1\nHost: x\nX-Big: " + b"b" * 2000 + b"\n"),
                                     431, STRICT),
    "body-too-large-413": (_req(b"POST / HTTP/1.1\nHost: x\nContent-Length: 2000\n", b"b" * 2000), 413, STRICT),
    "chunked-body-too-large-413": (_req(b"POST / HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n",
                                        b"400\r\n" + b"b" * 1024 + b"\r\n1\r\nb\r\n0\r\n\r\n"), 413, STRICT),
}




@pytest.mark.parametrize("name", list(REJECTIONS))
def test_rejection_gets_its_status_and_close_and_server_goes_on(model, serve, name):
    raw, status, options = REJECTIONS[name]
    server = serve("echo", *options)
    replies, closed = exchange(server.address, raw, b"POST")
    assert [r.status for r in replies] == [status], replies
    assert replies[0].closes, replies[0].headers
    assert replies[0].header(b"content-length") is not None
    assert closed
    get_ok(server.address)


def _longest_request_line() -> bytes:
    # STRICT sets --max-request-line 256: a line of exactly 256 bytes is within it.
    prefix, suffix = b"GET /", b" HTTP/1.1"
    return prefix + b"a" * (256 - len(prefix) - len(suffix)) + suffix


def test_request_line_at_the_limit_is_accepted_whole(model, serve):
    server = serve("echo", *STRICT)
    line = _longest_request_line()
    with Client(server.address) as c:
        c.send(line + b"\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200


def test_request_line_at_the_limit_is_accepted_however_it_is_split(model, serve):
    server = serve("echo", *STRICT)
    line = _longest_request_line()
    with Client(server.address) as c:
        c.send(line + b"\r")
        time.sleep(0.05)  # the server reads the line and its CR without the LF
        c.send(b"\nHost: x\r\n\r\n")
        assert c.read_response().status == 200


def test_body_refused_early_still_gets_its_413_while_the_client_sends(model, serve):
    # The server answers 413 on the Content-Length, before the body, then closes with
    # body bytes unread: the client must still be able to read the 413.
    server = serve("echo", *STRICT)
    with Client(server.address) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n", b"POST")
        for _ in range(64):
            c.send(b"b" * 16384)
            if c.send_failed:
                break
        reply = c.read_response()
        assert reply.status == 413 and reply.closes


def test_bad_request_pipelined_after_a_good_one(model, serve):
    server = serve("echo")
    with Client(server.address) as c:
        c.send(b"GET /good HTTP/1.1\r\nHost: x\r\n\r\nGET /bad HTTP/1.1\r\n\r\n"
               b"GET /never HTTP/1.1\r\nHost: x\r\n\r\n", b"GET", b"GET", b"GET")
        assert echoed(c.read_response())["target"] == "/good"
        bad = c.read_response()
        assert bad.status == 400 and bad.closes  # no Host
        c.assert_closed()


def test_smuggled_request_after_a_rejection_is_never_answered(model, serve):
    server = serve("echo")
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
    with Client(server.address) as c:
        c.send(raw, b"POST", b"GET")
        assert c.read_response().status == 400
        c.assert_closed()
        assert b"/smuggled" not in c.received


def test_head_rejection_has_no_body__rfc9110_9_3_2(model, serve):
    # The answer to HEAD has no content, whatever its status.
    server = serve("lab")
    with Client(server.address) as c:
        c.send(b"HEAD /no/such/thing HTTP/1.1\r\nHost: x\r\n\r\n", b"HEAD")
        reply = c.read_response()
        assert reply.status == 404
        assert bytes(c.received).endswith(b"\r\n\r\n"), bytes(c.received)
        c.assert_closed()


GARBAGE = [
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400),  # TLS hello
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),  # the HTTP/2 preface
    (b"GET\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
    (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400),  # a bare LF inside the head
    (b"\xff\xfe\r\n\r\n", 400),
]


def test_garbage_is_never_answered_200(model, serve):
    server = serve("hello")
    for raw, status in GARBAGE:
        with Client(server.address) as c:
            c.send(raw)
            reply = c.read_response()
            assert reply.status == status and reply.closes, (raw, reply)
            c.assert_closed()
    get_ok(server.address)


# -- the lab app's routing --------------------------------------------------------------------
def test_lab_unknown_path_is_404(model, serve):
    server = serve("lab")
    replies, closed = exchange(server.address, b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    assert replies[0].status == 404


def test_lab_root_refuses_post_with_405_and_allow__rfc9110_15_5_6(model, serve):
    server = serve("lab")
    replies, _ = exchange(server.address, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
                          b"POST")
    assert replies[0].status == 405
    assert replies[0].header(b"allow") == b"GET, HEAD"


def test_lab_root_answers_get_and_head(model, serve):
    server = serve("lab")
    with Client(server.address) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET", b"HEAD")
        get, head = c.read_response(), c.read_response()
        assert get.status == head.status == 200
        assert get.header(b"content-type").startswith(b"text/html")
        assert head.header(b"content-length") == str(len(get.body)).encode()
        assert head.body == b""


def test_lab_echo_route_echoes(model, serve):
    server = serve("lab")
    with Client(server.address) as c:
        c.request(b"PATCH", b"/echo/deep?x=1", [HOST], body=b"patch")
        echo = echoed(c.read_response())
        assert (echo["method"], echo["target"], body_of(echo)) == ("PATCH", "/echo/deep?x=1", b"patch")


# -- time: slow heads, idle connections ---------------------------------------------------
def test_head_trickling_slower_than_header_timeout_gets_408(model, serve):
    server = serve("echo", *STRICT)  # --header-timeout 0.5
    with Client(server.address) as c:
        started = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\n")
        for byte in b"Host: lab.test\r\nX-Slow: " + b"s" * 40:  # a byte every 50 ms
            if select.select([c.sock], [], [], 0.05)[0] or time.monotonic() - started > 1.5:
                break  # the server answered (or gave up on us)
            c.send(bytes([byte]))
        reply = c.read_response()
        elapsed = time.monotonic() - started
        assert reply.status == 408 and reply.closes
        assert 0.4 < elapsed < 3.0, elapsed  # 0.5 s, with room for a loaded machine
        c.assert_closed()
    get_ok(server.address)


def test_408_even_when_the_server_wakes_up_after_the_deadline(model, serve):
    # On a loaded machine the server may run only after a head's deadline has passed
    # (here: we stop it for 0.7 s). It must still answer 408, not just hang up.
    server = serve("echo", *STRICT)  # --header-timeout 0.5
    with Client(server.address) as c:
        c.send(b"GET / HTTP/1.1\r\n")
        time.sleep(0.1)
        os.kill(server.pid, signal.SIGSTOP)
        try:
            c.send(b"Host: lab.test\r\n")
            time.sleep(0.7)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        reply = c.read_response()
        assert reply.status == 408 and reply.closes
        c.assert_closed()
    get_ok(server.address)


def test_idle_keep_alive_connection_is_closed_after_keepalive_timeout(model, serve):
    server = serve("echo", *STRICT)  # --keepalive-timeout 1
    with Client(server.address) as c:
        c.request(b"GET", b"/", [HOST])
        assert c.read_response().status == 200
        waited = c.wait_closed(timeout=5.0)  # silently: no 408 for an idle connection
        assert 0.7 < waited < 3.5, waited  # 1 s, with room for a loaded machine
    get_ok(server.address)


def test_empty_lines_do_not_keep_an_idle_connection_open__rfc9112_2_2(model, serve):
    # A server skips empty lines before a request line; they are no request, so they do
    # not restart the keep-alive timeout: a client sending CRLF every 0.2 s is closed
    # like a silent one, not held for as long as it keeps dripping.
    server = serve("echo", *STRICT)  # --keepalive-timeout 1
    with Client(server.address) as c:
        c.request(b"GET", b"/", [HOST])
        assert c.read_response().status == 200
        answered = time.monotonic()
        for _ in range(25):  # 5 s of them, unless the server closes first
            c.send(b"\r\n")
            if c.send_failed:  # closed: the kernel answered a CRLF with a reset
                break
            time.sleep(0.2)
        else:
            c.wait_closed(timeout=5.0)
        assert time.monotonic() - answered < 3.5
    get_ok(server.address)


# -- clients that go away -----------------------------------------------------------------
def test_client_vanishing_mid_request_does_not_disturb_others(model, serve):
    server = serve("echo")
    a = Client(server.address)
    a.send(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-")  # mid-head
    b = Client(server.address)
    b.send(b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial", b"POST")
    time.sleep(0.05)
    a.abort()  # RST
    b.close()  # FIN mid-body
    for _ in range(3):
        get_ok(server.address)
    with Client(server.address) as c:  # and a client that stops reading its answer
        c.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n" * 50)
        c.abort()
    get_ok(server.address)


def test_concurrent_clients_each_get_their_own_answers(model, serve):
    # 12 clients at once, 15 keep-alive requests each: no answer crosses to another
    # connection (for `blocking`, the clients simply take turns).
    server = serve("echo")
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with Client(server.address, timeout=10.0) as c:
                for i in range(15):
                    c.request(b"POST", b"/c/%d/%d" % (n, i), [HOST], body=b"%d:%d" % (n, i))
                    echo = echoed(c.read_response())
                    assert echo["target"] == f"/c/{n}/{i}" and body_of(echo) == b"%d:%d" % (n, i)
        except BaseException as exc:  # reported below, from the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, errors[0]


# -- where the models differ: who waits -------------------------------------------------------
def _hold_keep_alive(address) -> Client:
    """A client that made one request and keeps its connection open, idle."""
    client = Client(address)
    client.request(b"GET", b"/", [HOST])
    assert client.read_response().status == 200
    return client


@pytest.mark.parametrize("model", ["blocking"], indirect=True)
def test_blocking_serves_one_connection_at_a_time(model, serve):
    # The lesson of the blocking model: while one client holds its keep-alive connection,
    # the next one waits in the listen backlog, answered only when the first leaves.
    server = serve("hello")
    first = _hold_keep_alive(server.address)
    with Client(server.address) as second:
        second.request(b"GET", b"/", [HOST])
        second.assert_silent(0.5)
        first.close()
        assert second.read_response(timeout=2.0).status == 200


@pytest.mark.parametrize("model", [m for m in ("threads", "pool", "epoll", "asyncio", "uvloop")],
                         indirect=True)
def test_concurrent_models_serve_a_second_client_while_the_first_idles(model, serve):
    # Every model but `blocking` (which by design serves one connection at a time; see
    # the test above) answers a second client while a first holds its connection.
    server = serve("hello")
    first = _hold_keep_alive(server.address)
    try:
        with Client(server.address) as second:
            second.request(b"GET", b"/", [HOST])
            assert second.read_response(timeout=3.0).status == 200
        first.request(b"GET", b"/", [HOST])
        assert first.read_response().status == 200
    finally:
        first.close()


@pytest.mark.parametrize("model", ["pool"], indirect=True)
def test_pool_with_two_workers_makes_a_third_client_wait(model, fresh_server):
    # The documented limit of `pool`: each worker serves one connection until it ends,
    # so two idle keep-alive clients occupy `--workers 2` and a third waits in the queue.
    server = fresh_server("pool", "hello", "--workers", "2")
    first = _hold_keep_alive(server.address)
    second = _hold_keep_alive(server.address)
    try:
        with Client(server.address) as third:
            third.request(b"GET", b"/", [HOST])
            third.assert_silent(0.5)
            second.close()  # frees a worker
            assert third.read_response(timeout=2.0).status == 200
    finally:
        first.close()
        second.close()


def test_running_out_of_file_descriptors_does_not_crash_the_server(model, fresh_server):
    # With its open-files limit at 64, more clients than fds: accept() fails with EMFILE
    # for a while. The server must ride it out (no crash, no busy loop left behind) and
    # serve again once the clients are gone.
    server = fresh_server(model, "hello", nofile=64)
    clients = [Client(server.address) for _ in range(80)]
    try:
        time.sleep(0.2)
        before = _cpu_seconds(server.pid)
        time.sleep(0.5)
        busy = (_cpu_seconds(server.pid) - before) / 0.5
    finally:
        for client in clients:
            client.close()
    assert server.alive, server.stderr()
    assert busy < 0.4, f"the server burnt {busy:.0%} of a core while out of fds"
    # Serving again may take a moment: the closes must reach the server first, and
    # uvloop (libuv) accepts and drops at once what arrives while it is out of fds,
    # where the other models leave it waiting in the backlog.
    give_up = time.monotonic() + 3.0
    while True:
        with Client(server.address, timeout=3.0) as c:
            c.request(b"GET", b"/", [HOST, (b"Connection", b"close")])
            try:
                assert c.read_response().status == 200
                break
            except AssertionError:
                if not c.eof or time.monotonic() > give_up:
                    raise
        time.sleep(0.1)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (proc(5): fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
