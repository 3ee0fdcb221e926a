"""The parser remembers request lines and field sections it has parsed (a section the
second time it comes): what it remembers must be exactly what parsing gives, never
shared with an app, bounded, and never credentials."""
from __future__ import annotations

import pytest

from protocols.errors import HTTPError
from protocols.http1 import Data, EndOfMessage, Request, RequestParser
from protocols.http1 import memo

from .conftest import drain


@pytest.fixture(autouse=True)
def _empty_memo():
    tables = (memo.SECTIONS, memo.REQUEST_LINES, memo.SEEN_ONCE)
    for table in tables:
        table.clear()
    yield
    for table in tables:
        table.clear()


def events(data: bytes) -> list:
    parser = RequestParser()
    parser.receive_data(data)
    out: list = []
    drain(parser, out)
    return out


POST = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Trace: 1\r\n\r\nhello"


def test_a_remembered_head_parses_as_the_first_did():
    section = b"Host: a\r\nContent-Length: 5\r\nX-Trace: 1\r\n"
    first = events(POST)
    assert b"POST /up HTTP/1.1" in memo.REQUEST_LINES
    assert section not in memo.SECTIONS  # a section is kept the second time it comes
    second = events(POST)
    assert section in memo.SECTIONS
    third = events(POST)
    assert third == second == first == [
        Request(b"POST", b"/up", b"1.1", [(b"Host", b"a"), (b"Content-Length", b"5"), (b"X-Trace", b"1")]),
        Data(b"hello"), EndOfMessage(),
    ]


def test_each_request_gets_headers_of_its_own():
    first, second = events(POST)[0], events(POST)[0]
    first.headers.append((b"X-Added", b"by an app"))
    second.headers.clear()
    assert events(POST)[0].headers == first.headers[:-1]


def test_a_remembered_section_still_frames_each_request_afresh():
    # Identical requests on one connection: each gets its own body reader.
    out = events(POST * 3)
    assert [type(e) for e in out] == [Request, Data, EndOfMessage] * 3


def test_a_refused_section_is_not_remembered_and_is_refused_again():
    bad = b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n"
    for _ in range(2):
        parser = RequestParser()
        parser.receive_data(bad)
        with pytest.raises(HTTPError) as err:
            parser.next_event()
        assert err.value.status == 400
    assert memo.SECTIONS == {}


def test_a_bad_host_in_a_remembered_section_is_refused_every_time():
    bad = b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"
    for _ in range(2):
        parser = RequestParser()
        parser.receive_data(bad)
        with pytest.raises(HTTPError, match="invalid Host"):
            parser.next_event()


@pytest.mark.parametrize("field", [b"Authorization: Basic dTpw", b"cookie: session=1",
                                   b"Proxy-Authorization: Bearer x"])
def test_sections_with_credentials_are_never_remembered__rfc7541_7_1_3(field):
    for _ in range(3):
        events(b"GET / HTTP/1.1\r\nHost: a\r\n" + field + b"\r\n\r\n")
    assert memo.SECTIONS == {}
    events(b"GET / HTTP/1.1\r\nHost: a\r\nX-" + field + b"\r\n\r\n")  # only a name like it
    events(b"GET / HTTP/1.1\r\nHost: a\r\nX-" + field + b"\r\n\r\n")
    assert len(memo.SECTIONS) == 1
    assert b"GET / HTTP/1.1" in memo.REQUEST_LINES  # the line is no secret


def test_long_lines_and_sections_are_not_remembered():
    long_target = b"/" + b"t" * memo.MAX_BYTES
    for _ in range(2):
        events(b"GET " + long_target + b" HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * memo.MAX_BYTES + b"\r\n\r\n")
    assert memo.SECTIONS == {} and memo.REQUEST_LINES == {}


def test_the_memo_is_bounded_and_keeps_working_when_full():
    limit = memo.ENTRIES
    for n in range(2 * limit + 3):
        for _ in range(2):
            got = events(b"GET /%d HTTP/1.1\r\nHost: a\r\nX-N: %d\r\n\r\n" % (n, n))[0]
            assert got == Request(b"GET", b"/%d" % n, b"1.1", [(b"Host", b"a"), (b"X-N", b"%d" % n)])
        assert len(memo.SECTIONS) <= limit
        assert len(memo.REQUEST_LINES) <= limit
        assert len(memo.SEEN_ONCE) <= 4 * limit
    assert len(memo.SECTIONS) == 3  # emptied when full, then filled again


def test_sections_seen_once_are_not_kept_and_their_hashes_are_bounded():
    for n in range(10):
        events(b"GET / HTTP/1.1\r\nHost: a\r\nX-N: %d\r\n\r\n" % n)
    assert memo.SECTIONS == {} and len(memo.SEEN_ONCE) == 10
    for n in range(4 * memo.ENTRIES + 10):
        events(b"GET / HTTP/1.1\r\nHost: a\r\nX-M: %d\r\n\r\n" % n)
        assert len(memo.SEEN_ONCE) <= 4 * memo.ENTRIES
    assert memo.SECTIONS == {}
