"""The chunked transfer coding in requests (RFC 9112 §7.1): sizes, extensions, trailers."""
from __future__ import annotations

import pytest

from protocols.http1 import Data, EndOfMessage, Limits, RequestParser

from protocols.errors import HTTPError

from .conftest import drain, fire_offset

HEAD = b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(body: bytes) -> bytes:
    return HEAD + body


def body_of(events: list) -> tuple[bytes, list]:
    """The de-chunked body and the trailers."""
    assert type(events[0]).__name__ == "Request" and type(events[-1]) is EndOfMessage
    assert all(type(e) is Data for e in events[1:-1])
    return b"".join(e.data for e in events[1:-1]), events[-1].trailers


def test_chunks_are_joined__rfc9112_7_1(feed):
    events = feed(chunked(b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"))
    assert body_of(events) == (b"hello world", [])


def test_empty_chunked_body__rfc9112_7_1(feed):
    assert feed(chunked(b"0\r\n\r\n"))[1:] == [EndOfMessage()]


def test_chunk_data_may_hold_crlf_and_any_byte__rfc9112_7_1(feed):
    data = bytes(range(256)) + b"\r\n0\r\n\r\n"
    events = feed(chunked(b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n"))
    assert body_of(events)[0] == data


@pytest.mark.parametrize("size", [b"a", b"A", b"0a", b"000000000000000000000000a"])
def test_chunk_size_is_hex_any_case_with_leading_zeros__rfc9112_7_1(feed, size):
    assert body_of(feed(chunked(size + b"\r\n0123456789\r\n0\r\n\r\n")))[0] == b"0123456789"


@pytest.mark.parametrize(
    "ext",
    [
        b";a", b";a=b", b";a=b;c=d", b' ;a="quoted; \\"value\\""', b"\t; a = b",
        b";a=\"\"", b";name=UPPER;x", b";a=\"caf\xe9\"",
    ],
)
def test_chunk_extensions_are_ignored__rfc9112_7_1_1(feed, ext):
    events = feed(chunked(b"3" + ext + b"\r\nabc\r\n0" + ext + b"\r\n\r\n"))
    assert body_of(events) == (b"abc", [])


def test_trailers_are_kept_in_order__rfc9112_7_1_2(feed):
    events = feed(chunked(b"2\r\nhi\r\n0\r\nChecksum: abc\r\nX-Note:  two words \t\r\nchecksum: again\r\n\r\n"))
    assert body_of(events) == (b"hi", [(b"Checksum", b"abc"), (b"X-Note", b"two words"), (b"checksum", b"again")])


def test_pipelined_request_after_a_chunked_body__rfc9112_9_3_2(feed):
    events = feed(chunked(b"2\r\nhi\r\n0\r\nT: 1\r\n\r\n") + b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
    assert events[2] == EndOfMessage([(b"T", b"1")]) and events[3].target == b"/next"


def test_consumed_counts_the_whole_chunked_message__rfc9112_7_1(feed):
    data = chunked(b"2;x=y\r\nhi\r\n0\r\nT: 1\r\n\r\n")
    parser = RequestParser()
    parser.receive_data(data + b"GET")
    while type(parser.next_event()) is not EndOfMessage:
        pass
    assert parser.consumed == len(data) and parser.buffered == 3


# -- malformed chunks ------------------------------------------------------------
@pytest.mark.parametrize("size", [b"g", b"5g", b"0x5", b"-5", b"+5", b" 5", b"", b"5 5", b"\xef\xbc\x95"])
def test_non_hex_chunk_size_is_400__rfc9112_7_1(feed, size):
    assert feed.rejects(chunked(size + b"\r\nhello\r\n0\r\n\r\n")).status == 400


@pytest.mark.parametrize("size", [b"1" + b"0" * 16, b"f" * 17, b"1" * 40])
def test_chunk_size_overflow_is_400__rfc9112_7_1(feed, size):
    # 17 significant hex digits exceed any size a server could hold.
    assert feed.rejects(chunked(size + b"\r\nhello\r\n0\r\n\r\n")).status == 400


def test_huge_chunk_size_under_the_digit_limit_is_413__rfc9110_15_5_14(feed):
    assert feed.rejects(chunked(b"ffffffffffffffff\r\nhello\r\n")).status == 413


@pytest.mark.parametrize(
    "ext", [b";", b";a=", b";=b", b";a b", b";a=b c", b';a="unterminated', b";a=\x00", b";a\x01"]
)
def test_malformed_chunk_extension_is_400__rfc9112_7_1_1(feed, ext):
    assert feed.rejects(chunked(b"3" + ext + b"\r\nabc\r\n0\r\n\r\n")).status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"5\r\nhelloX\r\n0\r\n\r\n",  # one byte too many
        b"5\r\nhell\r\n0\r\n\r\n",  # one byte too few: "\r" is data, "\n0" is not CRLF
        b"5\r\nhello\n0\r\n\r\n",  # LF alone
        b"5\r\nhello\r0\r\n\r\n",  # CR alone
        b"5\r\nhello0\r\n\r\n",  # nothing
    ],
)
def test_missing_crlf_after_chunk_data_is_400__rfc9112_7_1(feed, body):
    assert feed.rejects(chunked(body)).status == 400


def test_missing_crlf_is_noticed_at_the_first_wrong_byte__rfc9112_7_1():
    data = chunked(b"5\r\nhelloXXXXXXXXXXXXXXXXXXXX")
    assert fire_offset(RequestParser(), data, 400) == len(chunked(b"5\r\nhelloX"))


@pytest.mark.parametrize("line_end", [b"\n", b"\r", b"\r\r\n"])
def test_chunk_size_line_with_bare_cr_or_lf_is_400__rfc9112_2_2(feed, line_end):
    assert feed.rejects(chunked(b"3" + line_end + b"abc\r\n0\r\n\r\n0\r\n\r\n"), eof=True).status == 400


def test_chunk_size_line_over_the_limit_is_400__rfc9112_7_1_1():
    limits = Limits(max_chunk_line=20)
    data = chunked(b"3;" + b"a" * 100 + b"\r\nabc\r\n0\r\n\r\n")
    assert fire_offset(RequestParser(limits), data, 400) <= len(HEAD) + 20 + 2


@pytest.mark.parametrize(
    "trailer", [b"Bad Name: 1", b"X : 1", b" folded", b"X: \x00", b"NoColon", b"X: a\rb"]
)
def test_malformed_trailer_field_is_400__rfc9112_7_1_2(feed, trailer):
    assert feed.rejects(chunked(b"0\r\nOk: 1\r\n" + trailer + b"\r\n\r\n")).status == 400


def test_trailer_section_over_the_limit_is_431__rfc6585_5(feed):
    limits = Limits(max_header_bytes=100)
    data = chunked(b"0\r\nX-Big: " + b"a" * 200 + b"\r\n\r\n")
    assert feed.rejects(data, limits=limits).status == 431
    assert fire_offset(RequestParser(limits), data, 431) <= len(HEAD) + 3 + 100 + 4


def test_too_many_trailer_fields_is_431__rfc6585_5(feed):
    limits = Limits(max_headers=5)
    assert feed.rejects(chunked(b"0\r\n" + b"T: 1\r\n" * 6 + b"\r\n"), limits=limits).status == 431


@pytest.mark.parametrize(
    "body",
    [b"", b"5", b"5\r\n", b"5\r\nhel", b"5\r\nhello", b"5\r\nhello\r", b"5\r\nhello\r\n", b"0\r\n", b"0\r\nT: 1", b"0\r\nT: 1\r\n"],
)
def test_eof_inside_a_chunked_body_is_400__rfc9112_8(feed, body):
    assert feed.rejects(chunked(body), eof=True).status == 400


@pytest.mark.parametrize("trailers", [b"X: 1\n\n", b"X: 1\r\nY: 2\n", b"\n"])
def test_bare_lf_in_trailers_is_400_without_waiting__rfc9112_2_2(feed, trailers):
    # Like the head: a client ending lines in LF would never send the CRLFCRLF.
    data = chunked(b"0\r\n" + trailers)
    parser = RequestParser()
    parser.receive_data(data)
    with pytest.raises(HTTPError) as info:
        drain(parser, [])
    assert info.value.status == 400
    assert feed.rejects(data).status == 400
