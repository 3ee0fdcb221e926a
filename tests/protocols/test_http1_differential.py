"""Differential tests against h11 (a test-only dependency): same bytes, same meaning.

A seeded generator writes valid requests: random methods and targets, 0-15 fields with
random legal names and values (obs-text, internal whitespace, random OWS around them),
Content-Length or chunked bodies cut at random with extensions, and trailers. Our
parser and h11 must read the same method, target, version, fields, body and trailers,
whether the bytes come whole or in random pieces. The reverse: requests both must
refuse. Where h11 accepts what RFC 9112 lets (or tells) a server refuse, the table says
so and the test checks that h11 is still lenient, so the note cannot go stale.
"""
from __future__ import annotations

import random

import h11
import pytest

from protocols.errors import HTTPError
from protocols.http1 import Data, EndOfMessage, Request, RequestParser

from .conftest import drain, splits

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@"
# field-vchar = VCHAR / obs-text (RFC 9110 §5.5)
VALUE_BYTES = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
# Names whose meaning changes framing or persistence; generated separately.
RESERVED = {b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade", b"te", b"trailer"}
CASES = 400


def token(rng: random.Random, low: int, high: int) -> bytes:
    return "".join(rng.choice(TCHARS) for _ in range(rng.randint(low, high))).encode()


def field_value(rng: random.Random) -> tuple[bytes, bytes]:
    """(the bytes on the wire, the value a parser must hand back)."""
    words = [bytes(rng.choice(VALUE_BYTES) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(0, 4))]
    value = b""
    for i, word in enumerate(words):
        value += (bytes(rng.choice(b" \t") for _ in range(rng.randint(1, 3))) if i else b"") + word
    ows = lambda: bytes(rng.choice(b" \t") for _ in range(rng.choice((0, 0, 1, 1, 2, 4))))  # noqa: E731
    return ows() + value + ows(), value


def fields(rng: random.Random, count: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    wire, expected = b"", []
    while len(expected) < count:
        name = token(rng, 1, 20)
        if name.lower() in RESERVED:
            continue
        raw, value = field_value(rng)
        wire += name + b":" + raw + b"\r\n"
        expected.append((name, value))
    return wire, expected


def target(rng: random.Random, method: bytes) -> bytes:
    if method == b"OPTIONS" and rng.random() < 0.3:
        return b"*"
    path = b"".join(
        b"/" + "".join(rng.choice(PATH_CHARS) for _ in range(rng.randint(0, 8))).encode()
        + (b"%%%02X" % rng.randrange(256) if rng.random() < 0.2 else b"")
        for _ in range(rng.randint(1, 4))
    )
    if rng.random() < 0.5:
        pairs = [token(rng, 1, 6) + b"=" + "".join(rng.choice(PATH_CHARS) for _ in range(rng.randint(0, 8))).encode() for _ in range(rng.randint(1, 4))]
        path += b"?" + b"&".join(pairs).replace(b"#", b"%23")
    if rng.random() < 0.1:
        return b"http://example.com:%d" % rng.randint(1, 65535) + path
    return path


def chunk_ext(rng: random.Random) -> bytes:
    ext = b""
    for i in range(rng.choice((0, 0, 0, 1, 2))):
        bws = lambda: rng.choice((b"", b"", b" ", b"\t"))  # noqa: E731
        # RFC 9112 §7.1.1 allows BWS before the first ";"; h11 does not (see below).
        ext += (bws() if i else b"") + b";" + bws() + token(rng, 1, 8)
        if rng.random() < 0.6:
            value = token(rng, 1, 8) if rng.random() < 0.5 else b'"' + token(rng, 0, 8).replace(b'"', b"") + b' \\"q\\""'
            ext += bws() + b"=" + bws() + value
    return ext


def generate(seed: int) -> tuple[bytes, tuple]:
    """One valid request and what it means: (method, target, version, fields, body, trailers)."""
    rng = random.Random(seed)
    method = rng.choice((b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS")) if rng.random() < 0.6 else token(rng, 1, 10)
    version = b"1.0" if rng.random() < 0.1 else b"1.1"
    wire, expected = fields(rng, rng.randint(0, 15))
    host = b"example-%d.com" % rng.randint(0, 99)
    # The Host line goes anywhere among the others; HTTP/1.0 may leave it out.
    lines = wire.split(b"\r\n")[:-1]
    position = rng.randint(0, len(lines))
    if version == b"1.1" or rng.random() < 0.5:
        lines.insert(position, rng.choice((b"Host", b"host", b"HOST")) + b": " + host)
        expected.insert(position, (lines[position].split(b":")[0], host))
    body = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 10, 100, 300))))
    kind = rng.choice(("none", "length", "chunked") if version == b"1.1" else ("none", "length"))
    trailers: list = []
    tail = b""
    if kind == "length" or (kind == "none" and body):
        kind = "length"
        name = rng.choice((b"Content-Length", b"content-length"))
        lines.append(name + b": " + b"%d" % len(body))
        expected.append((name, b"%d" % len(body)))
        tail = body
    elif kind == "chunked":
        name = rng.choice((b"Transfer-Encoding", b"transfer-encoding"))
        lines.append(name + b": chunked")
        expected.append((name, b"chunked"))
        rest = body
        while rest:
            size = rng.randint(1, len(rest))
            tail += (b"%x" % size if rng.random() < 0.5 else b"%X" % size) + chunk_ext(rng) + b"\r\n" + rest[:size] + b"\r\n"
            rest = rest[size:]
        trailer_wire, trailers = fields(rng, rng.choice((0, 0, 1, 3)))
        tail += b"0" + chunk_ext(rng) + b"\r\n" + trailer_wire + b"\r\n"
    head = method + b" " + target(rng, method) + b" HTTP/" + version + b"\r\n"
    data = head + b"".join(line + b"\r\n" for line in lines) + b"\r\n" + tail
    return data, (method, head.split(b" ")[1], version, expected, body if kind != "none" else b"", trailers)


def ours(chunks: list[bytes]) -> list[tuple]:
    parser = RequestParser()
    events: list = []
    for chunk in chunks:
        parser.receive_data(chunk)
        drain(parser, events)
    return summarize(events, Request, Data, EndOfMessage, lambda e: (e.method, e.target, e.version, e.headers), lambda e: e.trailers)


def theirs(chunks: list[bytes]) -> list[tuple]:
    conn = h11.Connection(h11.SERVER)
    events: list = []
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                break
            if event is h11.PAUSED:  # answer, so that h11 reads the pipelined next
                conn.send(h11.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
                continue
            events.append(event)
    return summarize(
        events, h11.Request, h11.Data, h11.EndOfMessage,
        lambda e: (e.method, e.target, e.http_version, list(e.headers.raw_items())),
        lambda e: list(e.headers.raw_items()),
    )


def summarize(events, request_type, data_type, end_type, head, trailers) -> list[tuple]:
    """One (method, target, version, fields, body, trailers) per complete request."""
    out: list[tuple] = []
    current: list | None = None
    for event in events:
        if type(event) is request_type:
            current = [*head(event), b""]
        elif type(event) is data_type:
            current[4] += bytes(event.data)
        elif type(event) is end_type:
            out.append((*current, trailers(event)))
            current = None
    return out


@pytest.mark.parametrize("block", range(8))
def test_generated_requests_mean_the_same_to_h11__rfc9112(block):
    for seed in range(block * CASES // 8, (block + 1) * CASES // 8):
        data, meaning = generate(seed)
        for how, chunks in splits(data, seed):
            if how == "bytewise" and seed % 10:
                continue  # one case in ten byte by byte keeps the run short
            mine, h11s = ours(chunks), theirs(chunks)
            assert mine == [meaning], (seed, how, data)
            # h11 lower-cases nothing in raw_items, and strips values like we do.
            assert h11s == mine, (seed, how, data)


@pytest.mark.parametrize("block", range(4))
def test_generated_pipelines_mean_the_same_to_h11__rfc9112_9_3_2(block):
    for seed in range(block * 25, (block + 1) * 25):
        requests = [generate(1000 + seed * 3 + i) for i in range(3)]
        requests = [(data, meaning) for data, meaning in requests if meaning[2] == b"1.1"]
        stream = b"".join(data for data, _ in requests)
        for how, chunks in splits(stream, seed):
            if how == "bytewise":
                continue
            mine = ours(chunks)
            assert mine == [meaning for _, meaning in requests], (seed, how)
            assert theirs(chunks) == mine, (seed, how)


def test_generator_covers_what_it_claims():
    seen = {"chunked": 0, "length": 0, "trailers": 0, "obs-text": 0, "inner-space": 0, "1.0": 0, "absolute": 0, "ext": 0}
    for seed in range(CASES):
        data, (method, target, version, fields, body, trailers) = generate(seed)
        seen["chunked"] += b"chunked" in data
        seen["length"] += any(n.lower() == b"content-length" for n, _ in fields)
        seen["trailers"] += bool(trailers)
        seen["obs-text"] += any(max(v, default=0) >= 0x80 for _, v in fields)
        seen["inner-space"] += any(b" " in v or b"\t" in v for _, v in fields)
        seen["1.0"] += version == b"1.0"
        seen["absolute"] += target.startswith(b"http://")
        seen["ext"] += b"\r\n" in data and b";" in data.split(b"\r\n\r\n", 1)[1]
    assert all(count >= 10 for count in seen.values()), seen


# -- the reverse: requests both must refuse ---------------------------------------------
POST = b"POST / HTTP/1.1\r\nHost: a\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"
BAD = [
    # (name, request, our status, h11 refuses it, why h11 differs)
    ("cl_differ", POST + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, True, ""),
    ("cl_list_differ", POST + b"Content-Length: 1, 2\r\n\r\nab", 400, True, ""),
    ("cl_malformed", POST + b"Content-Length: +1\r\n\r\na", 400, True, ""),
    ("te_unknown", POST + b"Transfer-Encoding: gzip\r\n\r\n", 501, True, ""),
    ("te_chunked_not_final", POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400, True, "h11 says 501"),
    ("te_chunked_twice", POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, True, "h11 says 501"),
    ("te_empty", POST + b"Transfer-Encoding: \r\n\r\n", 400, True, "h11 says 501"),
    ("ws_before_colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, True, ""),
    ("bare_cr", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n", 400, True, ""),
    ("nul_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\x002\r\n\r\n", 400, True, ""),
    ("bad_name", b"GET / HTTP/1.1\r\nHost: a\r\nX(1): 2\r\n\r\n", 400, True, ""),
    ("bad_method", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, True, ""),
    ("no_host", b"GET / HTTP/1.1\r\n\r\n", 400, True, ""),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, True, ""),
    ("garbage_version", b"GET / HTTP/x.y\r\nHost: a\r\n\r\n", 400, True, ""),
    ("double_space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, True, ""),
    ("raw_utf8_target", b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, True, ""),
    ("chunk_nonhex", CHUNKED + b"5g\r\nhello\r\n0\r\n\r\n", 400, True, ""),
    ("chunk_no_crlf", CHUNKED + b"5\r\nhelloXX0\r\n\r\n", 400, True, ""),
    # RFC 9112 §6.1: a server MAY reject CL with TE (and MUST close after); h11 lets
    # Transfer-Encoding win, as the recipient rule of §6.3 allows.
    ("cl_and_te", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, False, "TE wins"),
    # RFC 9112 §6.1: HTTP/1.0 with Transfer-Encoding MUST be treated as faulty framing.
    ("te_in_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, False, "reads chunked"),
    # RFC 9112 §5.2: a server MUST reject obs-fold or replace it; h11 unfolds.
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400, False, "unfolds"),
    # RFC 9112 §2.2: a recipient MAY take a bare LF as a line end; h11 does.
    ("bare_lf", b"GET / HTTP/1.1\nHost: a\n\n", 400, False, "accepts LF"),
    # RFC 9110 §5.5: controls other than HTAB are not field-vchar; h11 only bars NUL, CR, LF.
    ("ctl_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\x012\r\n\r\n", 400, False, "accepts CTLs"),
    ("del_in_value", b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\x7f2\r\n\r\n", 400, False, "accepts DEL"),
    # RFC 9110 §6.2: a server may answer 505; h11 hands HTTP/1.x and 2.0 heads to the app.
    ("http_2_0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, False, "no version check"),
    ("http_1_2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, False, "no version check"),
    # RFC 9112 §3.2: the four target forms; h11 accepts any visible-ASCII target.
    ("asterisk_not_options", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, False, "any target"),
    ("relative_target", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, False, "any target"),
    # RFC 9112 §7.1.1 chunk-ext grammar; h11 skips anything after ";".
    ("chunk_bad_ext", CHUNKED + b"5;a b\r\nhello\r\n0\r\n\r\n", 400, False, "ext not parsed"),
    # h11 allows 20 hex digits and then waits for 2**68 bytes; we refuse past 16.
    ("chunk_overflow", CHUNKED + b"f" * 17 + b"\r\nabc\r\n0\r\n\r\n", 400, False, "waits"),
    # RFC 9110 §10.1.1: a server MAY answer 417 to an expectation it cannot meet.
    ("expect_unknown", b"GET / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n", 417, False, "ignores it"),
]


def test_whitespace_before_a_chunk_extension_is_accepted_unlike_h11__rfc9112_7_1_1():
    # chunk-ext = *( BWS ";" BWS chunk-ext-name ... ): h11 wants ";" right after the size.
    data = CHUNKED + b"5 ;a=b\r\nhello\r\n0\r\n\r\n"
    assert ours([data])[0][4] == b"hello"
    assert h11_refuses(data)


def h11_refuses(data: bytes) -> bool:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    try:
        while conn.next_event() not in (h11.NEED_DATA, h11.PAUSED):
            pass
    except h11.RemoteProtocolError:
        return True
    return False


@pytest.mark.parametrize(("name", "data", "status", "h11_too", "why"), BAD, ids=[row[0] for row in BAD])
def test_known_bad_requests_are_refused__rfc9112(name, data, status, h11_too, why):
    for how, chunks in splits(data, 0):
        with pytest.raises(HTTPError) as info:
            ours(chunks)
        assert info.value.status == status, how
    assert h11_refuses(data) is h11_too, f"h11 changed: {why or 'now lenient'}"
