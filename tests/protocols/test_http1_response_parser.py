"""The response parser the lab's clients use (RFC 9112 §4, §6.3)."""
from __future__ import annotations

import pytest

from protocols.http1 import (
    ConnectionClosed, Data, EndOfMessage, Limits, Response, ResponseParser,
)

from .conftest import drain

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_status_line_and_fields__rfc9112_4(feed_response):
    events = feed_response(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nno!")
    assert events == [
        Response(b"1.1", 404, b"Not Found", [(b"Content-Type", b"text/plain"), (b"Content-Length", b"3")]),
        Data(b"no!"),
        EndOfMessage(),
    ]


def test_empty_reason_phrase__rfc9112_4(feed_response):
    assert feed_response(b"HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n")[0][1:3] == (299, b"")


def test_reason_phrase_with_spaces_and_obs_text__rfc9112_4(feed_response):
    assert feed_response(b"HTTP/1.1 200 All  good \xe9\r\nContent-Length: 0\r\n\r\n")[0].reason == b"All  good \xe9"


@pytest.mark.parametrize(
    "line", [b"HTTP/1.1 20 OK", b"HTTP/1.1 2000 OK", b"HTTP/2 200 OK", b"HTTP/1.1  200 OK", b"HTTP/1.1 abc OK", b"ICY 200 OK", b"HTTP/1.1 200 O\x00K", b"HTTP/2.0 200 OK"]
)
def test_malformed_status_line_is_502__rfc9112_4(feed_response, line):
    assert feed_response.rejects(line + b"\r\nContent-Length: 0\r\n\r\n").status == 502


def test_malformed_field_is_502__rfc9112_5(feed_response):
    assert feed_response.rejects(b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n").status == 502


def test_content_length_body__rfc9112_6_3(feed_response):
    assert feed_response(OK)[1:] == [Data(b"hello"), EndOfMessage()]


@pytest.mark.parametrize("value", [b"abc", b"5, 6", b"-5", b"9" * 5000])
def test_bad_content_length_is_502__rfc9112_6_3(feed_response, value):
    assert feed_response.rejects(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nhello").status == 502


def test_body_over_the_clients_limit_is_refused__rfc9112_6_3(feed_response):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"a" * 100
    assert feed_response.rejects(data, limits=Limits(max_body=50)).status == 502


def test_chunked_body_with_trailers__rfc9112_7_1(feed_response):
    events = feed_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n")
    assert events[1:] == [Data(b"abcde"), EndOfMessage([(b"T", b"1")])]


def test_transfer_encoding_overrides_content_length__rfc9112_6_3(feed_response):
    events = feed_response(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


def test_body_read_until_close_without_framing__rfc9112_6_3_8(feed_response):
    events = feed_response(b"HTTP/1.1 200 OK\r\n\r\nall of this\r\n\r\nis body", eof=True)
    assert events[1:] == [Data(b"all of this\r\n\r\nis body"), EndOfMessage(), ConnectionClosed()]


def test_chunked_not_final_reads_until_close__rfc9112_6_3_4(feed_response):
    events = feed_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz", eof=True)
    assert events[1:] == [Data(b"xyz"), EndOfMessage(), ConnectionClosed()]


def test_response_to_head_has_no_body__rfc9112_6_3_1(feed_response):
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    events = feed_response(data, methods=(b"HEAD", b"GET"))
    assert events == [events[0], EndOfMessage(), events[2], Data(b"hi"), EndOfMessage()]


def test_response_to_head_ignores_chunked__rfc9112_6_3_1(feed_response):
    events = feed_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", methods=(b"HEAD",))
    assert events[1:] == [EndOfMessage()]


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body__rfc9112_6_3_1(feed_response, status):
    data = b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n" % status + OK
    events = feed_response(data, methods=(b"GET", b"GET"))
    assert events == [events[0], EndOfMessage(), events[2], Data(b"hello"), EndOfMessage()]


def test_interim_1xx_then_the_final_response__rfc9110_15_2(feed_response):
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK
    events = feed_response(data)
    assert [(type(e).__name__, getattr(e, "status", None)) for e in events] == [
        ("Response", 100), ("EndOfMessage", None), ("Response", 103), ("EndOfMessage", None),
        ("Response", 200), ("Data", None), ("EndOfMessage", None),
    ]


def test_interim_response_keeps_the_head_method_for_the_final__rfc9110_15_2(feed_response):
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    events = feed_response(data, methods=(b"HEAD",))
    assert [(type(e).__name__, getattr(e, "status", None)) for e in events] == [
        ("Response", 100), ("EndOfMessage", None), ("Response", 200), ("EndOfMessage", None),
    ]


def test_101_switching_protocols_hands_over_trailing_data__rfc9110_15_2_2():
    parser = ResponseParser()
    parser.expect(b"GET")
    frames = b"\x81\x02hi"
    parser.receive_data(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + frames)
    drain(parser, events := [])
    assert [type(e) for e in events] == [Response, EndOfMessage, ConnectionClosed]
    assert parser.trailing_data() == frames


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n", True),
    ],
)
def test_keep_alive_of_responses__rfc9112_9_3(feed_response, head, keep_alive):
    events = feed_response(head + b"\r\n")
    assert (events[-1] == ConnectionClosed()) is (not keep_alive)


def test_pipelined_responses_in_order__rfc9112_9_3_2(feed_response):
    data = OK + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + OK
    events = feed_response(data, methods=(b"GET", b"HEAD", b"GET"))
    assert [type(e).__name__ for e in events] == [
        "Response", "Data", "EndOfMessage", "Response", "EndOfMessage", "Response", "Data", "EndOfMessage",
    ]


def test_consumed_counts_whole_responses__rfc9112_6_3():
    parser = ResponseParser()
    parser.expect(b"GET")
    parser.receive_data(OK + b"HTTP/1.1")
    drain(parser, [])
    assert parser.consumed == len(OK)


@pytest.mark.parametrize(
    "data", [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"]
)
def test_eof_in_mid_response_is_502__rfc9112_8(feed_response, data):
    assert feed_response.rejects(data, eof=True).status == 502


def test_clean_close_before_a_response_is_connection_closed__rfc9112_9_6(feed_response):
    assert feed_response(b"", eof=True) == [ConnectionClosed()]


def test_response_head_over_the_limit_is_502__rfc9112_2_3():
    parser = ResponseParser(Limits(max_request_line=50, max_header_bytes=100))
    parser.expect(b"GET")
    parser.receive_data(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 500)
    with pytest.raises(Exception) as info:
        parser.next_event()
    assert info.value.status == 502


def test_connect_2xx_starts_a_tunnel_with_no_body__rfc9112_6_3_2():
    parser = ResponseParser()
    parser.expect(b"CONNECT")
    tunnel = b"\x16\x03\x01 TLS bytes, not a body"
    parser.receive_data(b"HTTP/1.1 200 Connection established\r\n\r\n" + tunnel)
    drain(parser, events := [])
    assert [type(e) for e in events] == [Response, EndOfMessage, ConnectionClosed]
    assert parser.trailing_data() == tunnel


def test_connect_refused_has_a_body__rfc9112_6_3_2(feed_response):
    events = feed_response(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", methods=(b"CONNECT",))
    assert events[1:] == [Data(b"no"), EndOfMessage()]
