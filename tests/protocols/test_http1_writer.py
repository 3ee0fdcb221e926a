"""Writers: response heads, whole responses, chunks (RFC 9112 §4, §6, §7; RFC 9110 §6.6.1)."""
from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

import pytest

from protocols.http1 import (
    CONTINUE, LAST_CHUNK, Data, EndOfMessage, RequestParser, ResponseParser, body_allowed,
    encode_chunk, format_request, format_response, http_date, response_head, status_line,
)

from .conftest import drain, merge_data

IMF_FIXDATE = re.compile(rb"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT")


def fields(head: bytes) -> dict[bytes, bytes]:
    lines = head.split(b"\r\n")[1:]
    return {name.lower(): value for name, _, value in (line.partition(b": ") for line in lines if line)}


def parse_response(data: bytes, method: bytes = b"GET") -> list:
    parser = ResponseParser()
    parser.expect(method)
    parser.receive_data(data)
    parser.receive_data(b"")
    drain(parser, events := [])
    return merge_data(events)


def test_date_is_imf_fixdate_of_now__rfc9110_6_6_1():
    date = http_date()
    assert IMF_FIXDATE.fullmatch(date), date
    assert abs(parsedate_to_datetime(date.decode()).timestamp() - time.time()) < 3


def test_every_response_head_has_a_date__rfc9110_6_6_1():
    assert IMF_FIXDATE.fullmatch(fields(response_head(200, [], length=0))[b"date"])


def test_status_line_with_known_and_unknown_codes__rfc9112_4():
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"
    assert status_line(599) == b"HTTP/1.1 599 \r\n"
    for bad in (99, 1000, -1):
        with pytest.raises(ValueError):
            status_line(bad)


def test_content_length_framing__rfc9112_6_2():
    head = response_head(200, [(b"Content-Type", b"text/plain")], length=5)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert fields(head)[b"content-length"] == b"5"
    assert b"transfer-encoding" not in fields(head) and b"connection" not in fields(head)


def test_chunked_framing_when_length_is_unknown__rfc9112_7_1():
    head = response_head(200, [], length=None)
    assert fields(head)[b"transfer-encoding"] == b"chunked" and b"content-length" not in fields(head)
    body = encode_chunk(b"hello ") + encode_chunk(b"") + encode_chunk(b"world") + LAST_CHUNK
    assert parse_response(head + body)[1:3] == [Data(b"hello world"), EndOfMessage()]


def test_close_delimited_for_a_peer_without_chunked__rfc9112_6_3_8():
    head = response_head(200, [], length=None, chunked=False)
    assert fields(head)[b"connection"] == b"close"
    assert b"content-length" not in fields(head) and b"transfer-encoding" not in fields(head)
    events = parse_response(head + b"until the end")
    assert events[1:] == [Data(b"until the end"), EndOfMessage(), events[-1]]


def test_connection_close_when_not_keeping_alive__rfc9112_9_6():
    assert fields(response_head(200, [], length=0, keep_alive=False))[b"connection"] == b"close"


@pytest.mark.parametrize("status", [100, 101, 103, 204])
def test_no_content_length_in_1xx_and_204__rfc9110_8_6(status):
    head = response_head(status, [], length=10)
    assert b"content-length" not in fields(head) and b"transfer-encoding" not in fields(head)
    assert b"transfer-encoding" not in fields(response_head(status, [], length=None))


def test_format_response_is_one_message__rfc9112_6_2():
    data = format_response(200, [(b"Content-Type", b"text/plain")], b"hello")
    assert data.endswith(b"\r\n\r\nhello") and fields(data.split(b"\r\n\r\n")[0] + b"\r\n")[b"content-length"] == b"5"
    assert parse_response(data)[1:3] == [Data(b"hello"), EndOfMessage()]


def test_head_response_has_get_length_and_no_body__rfc9110_9_3_2():
    data = format_response(200, [], b"hello", method=b"HEAD")
    assert data.endswith(b"Content-Length: 5\r\n\r\n")
    assert parse_response(data, b"HEAD")[1:2] == [EndOfMessage()]


@pytest.mark.parametrize("status", [100, 204, 304])
def test_no_body_in_1xx_204_304__rfc9110_6_4_1(status):
    assert format_response(status, [], b"body").endswith(b"\r\n\r\n")
    assert not body_allowed(status, b"GET")


def test_body_allowed__rfc9110_6_4_1():
    assert body_allowed(200, b"GET") and body_allowed(404, b"POST")
    assert not body_allowed(200, b"HEAD")


def test_continue_is_an_interim_response__rfc9110_15_2_1():
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert parse_response(CONTINUE)[0].status == 100


@pytest.mark.parametrize(
    "value", [b"a\r\nSet-Cookie: evil=1", b"a\nX: 1", b"a\rb", b"a\x00b"]
)
def test_line_break_or_nul_in_a_value_is_refused__rfc9110_5_5(value):
    with pytest.raises(ValueError):
        response_head(200, [(b"X-A", value)], length=0)


@pytest.mark.parametrize(
    "name", [b"X-A\r\nSet-Cookie: evil=1\r\nX-B", b"X-A\nX", b"X-A: evil\r\nX", b"X A", b"X:A", b"", b"X\x00"]
)
def test_invalid_field_name_is_refused__rfc9110_5_1(name):
    with pytest.raises(ValueError):
        response_head(200, [(name, b"1")], length=0)


def test_encode_chunk_and_last_chunk__rfc9112_7_1():
    assert encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert encode_chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert encode_chunk(b"") == b""  # an empty chunk would end the body
    assert LAST_CHUNK == b"0\r\n\r\n"


def test_format_request_round_trips_through_the_parser__rfc9112_3():
    data = format_request(b"POST", b"/x?y=1", [(b"Host", b"a"), (b"X-A", b"1")], b"body")
    parser = RequestParser()
    parser.receive_data(data)
    drain(parser, events := [])
    assert events[0][:3] == (b"POST", b"/x?y=1", b"1.1")
    assert events[1:] == [Data(b"body"), EndOfMessage()]
    assert format_request(b"GET", b"/", [(b"Host", b"a")]).endswith(b"Host: a\r\n\r\n")
