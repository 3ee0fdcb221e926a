"""Check bodies for exercise 03-chunked (RFC 9112 §7.1, the chunked transfer coding).

The lab's own request parser is fed each request; the student's ``body.py`` is in place
of the lab's, so every chunked body goes through the student's ``ChunkedReader``. Every
case is fed whole, one byte at a time and split at seeded points. ``encode_chunk`` and
``LAST_CHUNK`` are called directly; the last stage runs the whole lab on them.
"""
from __future__ import annotations

import base64
import json

from .calls import CallCase, CallCheck
from .net import ServerCase, ServerCheck
from .parser import ParserCheck, accept, data, eom, reject, req

PARSER = "protocols.http1.parser"
H = b"Host: example.com\r\n"
HOST = (b"Host", b"example.com")
TE = (b"Transfer-Encoding", b"chunked")
POST = b"POST /c HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"


def head() -> tuple:
    return req(b"POST", b"/c", b"1.1", [HOST, TE])


R_CHUNKED = "RFC 9112 §7.1: chunked-body = *chunk last-chunk trailer-section CRLF; chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF"
R_HEX = "RFC 9112 §7.1: chunk-size = 1*HEXDIG: the size of the chunk-data in octets, in hexadecimal"
R_EXT = "RFC 9112 §7.1.1: A recipient MUST ignore unrecognized chunk extensions"
R_TRAILER = "RFC 9112 §7.1.2: a trailer section after the last chunk carries fields; the recipient keeps them apart from the header"
R_LAST = ("RFC 9112 §8: a message whose chunked transfer coding never receives its zero-sized last chunk "
          "is incomplete; a server MUST NOT treat it as a complete request")
R_BAD = "RFC 9112 §7.1: a chunk-size line that is not 1*HEXDIG [ chunk-ext ] CRLF is invalid framing (400)"
R_OVERFLOW = ("RFC 9112 §7.1: Recipients MUST anticipate potentially large hexadecimal numerals and prevent "
              "parsing errors due to integer conversion overflows or precision loss due to integer representation")
R_CRLF = "RFC 9112 §7.1: chunk-data is followed by CRLF; anything else is invalid framing (400)"
R_413 = "RFC 9110 §15.5.14: 413 when the body is larger than the server accepts: counted across chunks, refused at the chunk-size line"
R_ENCODE = "RFC 9112 §7.1: chunk = chunk-size (hex) CRLF chunk-data CRLF; last-chunk = 1*\"0\" CRLF, then the trailer section's CRLF"


def echo_body(body: bytes, trailers: list) -> object:
    def check(raw: bytes) -> str | None:
        try:
            doc = json.loads(raw)
        except ValueError:
            return "the echo app's body is not JSON: did the request reach the app?"
        want = {"body_base64": base64.b64encode(body).decode(), "trailers": trailers}
        got = {k: doc.get(k) for k in want}
        if got != want:
            return f"the echo app saw {got!r}; expected {want!r}"
        return None

    return check


# Round trip: the student's encode_chunk + LAST_CHUNK read back by the student's reader.
HELPERS = ('''
def roundtrip(parts):
    from protocols.http1.parser import RequestParser
    from protocols.http1 import NEED_DATA
    wire = b"POST / HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
    wire += b"".join(body.encode_chunk(p) for p in parts) + body.LAST_CHUNK
    p = RequestParser()
    p.receive_data(wire)
    out = b""
    while True:
        ev = p.next_event()
        name = type(ev).__name__
        if ev is NEED_DATA:
            return ("incomplete", out)
        if name == "Data":
            out += ev.data
        if name == "EndOfMessage":
            return ("complete", out)
''',)


CHECKS = {
    # --- stage 1: decoding ---
    "chunks-decoded": ParserCheck([
        accept("two-chunks", POST + b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n", [head(), data(b"hello, world"), eom()], R_CHUNKED),
        accept("hex-sizes", POST + b"a\r\n0123456789\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\n\r\n",
               [head(), data(b"0123456789" + b"z" * 26), eom()], R_HEX),
        accept("binary-data-with-crlf", POST + b"4\r\n\r\n\r\n\r\n0\r\n\r\n", [head(), data(b"\r\n\r\n"), eom()],
               R_CHUNKED + "; chunk-data is counted, never searched for CRLF"),
        accept("empty-body", POST + b"0\r\n\r\n", [head(), eom()], R_CHUNKED),
    ], parser_module=PARSER),
    "extensions-ignored": ParserCheck([
        accept("token-extension", POST + b"5;name=value\r\nhello\r\n0\r\n\r\n", [head(), data(b"hello"), eom()], R_EXT),
        accept("bare-and-quoted", POST + b"3;flag;q=\"a;b\"\r\nabc\r\n0;last\r\n\r\n", [head(), data(b"abc"), eom()], R_EXT),
    ], parser_module=PARSER),
    "trailers-kept": ParserCheck([
        accept("one-trailer", POST + b"3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n",
               [head(), data(b"abc"), eom([(b"X-Checksum", b"42")])], R_TRAILER),
        accept("two-trailers", POST + b"2\r\nhi\r\n0\r\nX-A: 1\r\nX-B: two words\r\n\r\n",
               [head(), data(b"hi"), eom([(b"X-A", b"1"), (b"X-B", b"two words")])], R_TRAILER),
    ], parser_module=PARSER),
    "last-chunk-required": ParserCheck([
        reject("eof-after-data", POST + b"5\r\nhello\r\n", 400, R_LAST, eof=True),
        reject("eof-before-final-crlf", POST + b"5\r\nhello\r\n0\r\n", 400, R_LAST, eof=True),
    ], parser_module=PARSER),
    # --- stage 2: rejecting bad framing ---
    "bad-chunk-size": ParserCheck([
        reject("not-hex", POST + b"xyz\r\nabc\r\n0\r\n\r\n", 400, R_BAD, at=b"xyz"),
        reject("negative", POST + b"-5\r\nhello\r\n0\r\n\r\n", 400, R_BAD, at=b"-5"),
        reject("junk-after-size", POST + b"5 junk\r\nhello\r\n0\r\n\r\n", 400, R_BAD, at=b" junk"),
        reject("empty-size-line", POST + b"\r\nhello\r\n0\r\n\r\n", 400, R_BAD, at=b"\r\nhello"),
    ], parser_module=PARSER),
    "chunk-size-overflow": ParserCheck([
        reject("twenty-hex-digits", POST + b"fffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400, R_OVERFLOW, at=b"fffff",
               limits={"max_body": 1 << 62}),
    ], parser_module=PARSER),
    "missing-crlf-after-data": ParserCheck([
        reject("data-runs-on", POST + b"5\r\nhelloXX0\r\n\r\n", 400, R_CRLF, at=b"XX"),
        reject("bare-lf", POST + b"5\r\nhello\n0\r\n\r\n", 400, R_CRLF, at=b"\n0"),
    ], parser_module=PARSER),
    "body-too-large": ParserCheck([
        reject("across-chunks", POST + b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n", 413, R_413,
               limits={"max_body": 10}, at=b"8\r\n12345678\r\n0"),
        reject("at-the-size-line", POST + b"100\r\n", 413, R_413 + " - before its data arrives", limits={"max_body": 10},
               at=b"100"),
    ], parser_module=PARSER),
    # --- stage 3: encoding ---
    "encode-chunk": CallCheck([
        CallCase("hello", 'body.encode_chunk(b"hello")', R_ENCODE, expect=b"5\r\nhello\r\n"),
        CallCase("size-in-hex", 'body.encode_chunk(b"x" * 255)[:5]', R_ENCODE + ": 255 is ff", expect=b"ff\r\nx"),
        CallCase("empty-is-nothing", 'body.encode_chunk(b"")', "an empty chunk would be the last chunk: encode nothing",
                 expect=b""),
        CallCase("last-chunk", "body.LAST_CHUNK", R_ENCODE, expect=b"0\r\n\r\n"),
        CallCase("round-trip", 'roundtrip([b"ab", b"", b"c" * 300, b"\\r\\n"])', "what you write, your reader reads back",
                 expect=("complete", b"ab" + b"c" * 300 + b"\r\n")),
    ], helpers=HELPERS),
    # --- stage 4: the whole lab on your body.py ---
    "lab-decodes-your-chunks": ServerCheck([
        ServerCase("chunked-post", b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n", 200,
                   "`lab serve --app echo` hands the app the body your reader decoded, trailers included",
                   body_check=echo_body(b"hello world", [["X-Sum", "11"]])),
    ]),
    "lab-rejects-bad-chunks": ServerCheck([
        ServerCase("bad-size", b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
                   400, R_BAD, headers=((b"Connection", b"close"),)),
        ServerCase("too-large", b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n",
                   413, R_413, headers=((b"Connection", b"close"),)),
    ], serve_args=("--app", "echo", "--io", "blocking", "--max-body", "8")),
}
