"""Check bodies for exercise 01-request-parsing (RFC 9112, HTTP/1.1 message syntax).

Each entry of ``CHECKS`` is named in ``exercises/01-request-parsing/manifest.toml``,
which holds its points, timeout and visibility. Each case carries the sentence of the
RFC it enforces: that sentence is what a student reads when the case fails.
"""
from __future__ import annotations

import base64
import json

from .net import ServerCase, ServerCheck
from .parser import Case, ParserCheck, accept, data, eom, reject, req

H = b"Host: example.com\r\n"
HOST = (b"Host", b"example.com")

R_REQUEST_LINE = "RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF"
R_BAD_LINE = (
    "RFC 9112 §3: a request-line is exactly method SP request-target SP HTTP-version; "
    "a server that receives an invalid request-line SHOULD respond with 400 (Bad Request)"
)
R_VERSION = "RFC 9112 §2.3: HTTP-version = HTTP-name \"/\" DIGIT \".\" DIGIT, and HTTP-name is case-sensitive"
R_505 = "RFC 9110 §15.6.6: 505 (HTTP Version Not Supported) for a major version the server does not support"
R_414 = "RFC 9112 §3: a server that receives a request-target longer than it wishes to parse MUST respond with 414"
R_FIELDS = "RFC 9112 §5: field-line = field-name \":\" OWS field-value OWS; leading and trailing OWS are not part of the value"
R_COLON_WS = (
    "RFC 9112 §5.1: No whitespace is allowed between the field name and colon. A server MUST reject, "
    "with a response status code of 400 (Bad Request), any received request message that contains "
    "whitespace between a header field name and colon"
)
R_NAME = "RFC 9110 §5.1: field-name = token; anything else is a malformed request (400)"
R_HOST = (
    "RFC 9112 §3.2: A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request "
    "message that lacks a Host header field and to any request message that contains more than one Host "
    "header field line"
)
R_431 = "RFC 6585 §5: 431 (Request Header Fields Too Large) when the header block or the number of fields is over the limit"
R_CL = "RFC 9112 §6.2: Content-Length is the number of body octets; the body is exactly that many bytes"
R_CL_BAD = (
    "RFC 9112 §6.3: If a message is received without Transfer-Encoding and with an invalid Content-Length "
    "header field, then the message framing is invalid and the recipient MUST treat it as an unrecoverable "
    "error: a server MUST respond with 400"
)
R_CHUNKED = "RFC 9112 §7.1: chunked-body = *chunk last-chunk trailer-section CRLF; chunk-ext is ignored"
R_CHUNK_BAD = "RFC 9112 §7.1: chunk-size = 1*HEXDIG followed by CRLF (or chunk-ext then CRLF); anything else is invalid framing (400)"
R_501 = "RFC 9112 §6.1: A server that receives a request message with a transfer coding it does not understand SHOULD respond with 501"
R_413 = "RFC 9110 §15.5.14: 413 (Content Too Large) when the body is larger than the server is willing to process"
R_TE_CL = (
    "RFC 9112 §6.1: A server MAY reject a request that contains both Content-Length and Transfer-Encoding "
    "or process such a request in accordance with the Transfer-Encoding alone"
)
R_EMPTY = "RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF) received prior to the request-line"




def echo_says(method: str, target: str, headers: list, body: bytes = b""):
    """A body check for the lab's echo app: the request as the server understood it."""

    def check(raw: bytes) -> str | None:
        try:
            doc = json.loads(raw)
        except ValueError:
            return "the echo app's body is not JSON: did the request reach the app?"
        want = {"method": method, "target": target, "headers": headers, "body_base64": base64.b64encode(body).decode()}
        got = {k: doc.get(k) for k in want}
        if got != want:
            wrong = [k for k in want if got[k] != want[k]]
            return f"the echo app saw {', '.join(f'{k}={got[k]!r}' for k in wrong)}; expected " + ", ".join(
                f"{k}={want[k]!r}" for k in wrong)
        return None

    return check


CHECKS = {
    # --- stage 1: the request-line ---
    "simple-get": ParserCheck([
        accept("get-root", b"GET / HTTP/1.1\r\n" + H + b"\r\n",
               [req(b"GET", b"/", b"1.1", [HOST]), eom()], R_REQUEST_LINE),
    ]),
    "request-line-forms": ParserCheck([
        accept("query-string", b"GET /search?q=a%20b&x=1 HTTP/1.1\r\n" + H + b"\r\n",
               [req(b"GET", b"/search?q=a%20b&x=1", b"1.1", [HOST]), eom()], R_REQUEST_LINE),
        accept("other-method", b"DELETE /items/7 HTTP/1.1\r\n" + H + b"\r\n",
               [req(b"DELETE", b"/items/7", b"1.1", [HOST]), eom()], R_REQUEST_LINE),
        accept("asterisk-form", b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
               [req(b"OPTIONS", b"*", b"1.1", [HOST]), eom()], "RFC 9112 §3.2.4: asterisk-form = \"*\" (OPTIONS only)"),
        accept("http-1.0-without-host", b"GET /old HTTP/1.0\r\n\r\n",
               [req(b"GET", b"/old", b"1.0"), eom()], "RFC 9112 §3.2: only HTTP/1.1 requests need a Host field"),
    ]),
    "bad-request-line": ParserCheck([
        reject("missing-version", b"GET /\r\n" + H + b"\r\n", 400, R_BAD_LINE, at=b"\r\n"),
        reject("double-space", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400, R_BAD_LINE, at=b"  /"),
        reject("lowercase-http", b"GET / http/1.1\r\n" + H + b"\r\n", 400, R_VERSION, at=b"http"),
        reject("bad-version-digits", b"GET / HTTP/1.x\r\n" + H + b"\r\n", 400, R_VERSION, at=b"x\r\n"),
        reject("empty-method", b" / HTTP/1.1\r\n" + H + b"\r\n", 400, R_BAD_LINE, at=b" /"),
    ]),
    "unsupported-version": ParserCheck([
        reject("http-2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505, R_505, at=b"2.0"),
        reject("http-3.0", b"GET / HTTP/3.0\r\n" + H + b"\r\n", 505, R_505, at=b"3.0"),
    ]),
    "request-line-too-long": ParserCheck([
        reject("long-target", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414, R_414,
               feeds=("whole", "random")),
        reject("long-target-no-crlf-yet", b"GET /" + b"a" * 9000, 414,
               R_414 + " - as soon as the line is too long, not when its CRLF arrives", feeds=("whole", "random")),
    ]),
    # --- stage 2: header fields ---
    "header-fields": ParserCheck([
        accept("several-fields", b"GET / HTTP/1.1\r\n" + H + b"Accept: */*\r\nX-Empty:\r\nUser-Agent: lab/1.0\r\n\r\n",
               [req(b"GET", b"/", b"1.1", [HOST, (b"Accept", b"*/*"), (b"X-Empty", b""), (b"User-Agent", b"lab/1.0")]), eom()],
               R_FIELDS),
        accept("ows-trimmed", b"GET / HTTP/1.1\r\n" + H + b"X-Pad: \t padded value \t \r\n\r\n",
               [req(b"GET", b"/", b"1.1", [HOST, (b"X-Pad", b"padded value")]), eom()], R_FIELDS),
        accept("colon-in-value", b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
               [req(b"GET", b"/", b"1.1", [(b"Host", b"example.com:8080")]), eom()],
               "RFC 9112 §5: the field name ends at the first colon; later colons belong to the value"),
        accept("repeated-field-order", b"GET / HTTP/1.1\r\n" + H + b"Accept: a\r\nAccept: b\r\n\r\n",
               [req(b"GET", b"/", b"1.1", [HOST, (b"Accept", b"a"), (b"Accept", b"b")]), eom()],
               "RFC 9110 §5.3: the order of field lines with the same name is significant: keep them all, in order"),
    ]),
    "whitespace-before-colon": ParserCheck([
        reject("space-before-colon", b"GET / HTTP/1.1\r\n" + H + b"X-Test : 1\r\n\r\n", 400, R_COLON_WS, at=b" : 1"),
        reject("tab-before-colon", b"GET / HTTP/1.1\r\nHost\t: example.com\r\n\r\n", 400, R_COLON_WS, at=b"\t:"),
    ]),
    "bad-field-name": ParserCheck([
        reject("no-colon", b"GET / HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n", 400, R_NAME, at=b"NoColon"),
        reject("non-token-name", b"GET / HTTP/1.1\r\n" + H + b"X(y): 1\r\n\r\n", 400, R_NAME, at=b"(y)"),
        reject("empty-name", b"GET / HTTP/1.1\r\n" + H + b": value\r\n\r\n", 400, R_NAME, at=b": value"),
    ]),
    "host-required": ParserCheck([
        reject("missing-host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, R_HOST, at=b"\r\n\r\n"),
        reject("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, R_HOST, at=b"Host: b"),
    ]),
    "header-limits": ParserCheck([
        reject("header-block-too-large", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 20000 + b"\r\n\r\n", 431, R_431,
               feeds=("whole", "random")),
        reject("header-block-too-large-unterminated", b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 20000, 431,
               R_431 + " - enforced while the bytes arrive, not after the blank line", feeds=("whole", "random")),
        reject("too-many-fields", b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(120)) + b"\r\n",
               431, R_431, feeds=("whole", "random")),
    ]),
    # --- stage 3: the message body ---
    "content-length-body": ParserCheck([
        accept("post-hello", b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
               [req(b"POST", b"/echo", b"1.1", [HOST, (b"Content-Length", b"5")]), data(b"hello"), eom()], R_CL),
        accept("binary-body", b"PUT /b HTTP/1.1\r\n" + H + b"Content-Length: 6\r\n\r\n\x00\r\n\xff\xfe\n",
               [req(b"PUT", b"/b", b"1.1", [HOST, (b"Content-Length", b"6")]), data(b"\x00\r\n\xff\xfe\n"), eom()],
               R_CL + "; body bytes are data, CRLFs in them included"),
        accept("zero-length", b"POST /z HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n",
               [req(b"POST", b"/z", b"1.1", [HOST, (b"Content-Length", b"0")]), eom()], R_CL),
    ]),
    "chunked-body": ParserCheck([
        accept("two-chunks", b"POST /c HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
               [req(b"POST", b"/c", b"1.1", [HOST, (b"Transfer-Encoding", b"chunked")]), data(b"hello, world"), eom()],
               R_CHUNKED),
        accept("hex-size-and-extension", b"POST /c HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
               b"A;name=value\r\n0123456789\r\n0\r\n\r\n",
               [req(b"POST", b"/c", b"1.1", [HOST, (b"Transfer-Encoding", b"chunked")]), data(b"0123456789"), eom()],
               R_CHUNKED),
        accept("trailers", b"POST /c HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n0\r\nX-Checksum: 42\r\n\r\n",
               [req(b"POST", b"/c", b"1.1", [HOST, (b"Transfer-Encoding", b"chunked")]), data(b"abc"),
                eom([(b"X-Checksum", b"42")])],
               "RFC 9112 §7.1.2: trailer fields follow the last chunk"),
    ]),
    "invalid-content-length": ParserCheck([
        reject("not-a-number", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: abc\r\n\r\n", 400, R_CL_BAD, at=b"abc"),
        reject("negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400, R_CL_BAD, at=b"-1"),
        reject("conflicting-values", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
               400, R_CL_BAD, at=b"Content-Length: 6"),
    ]),
    "unknown-transfer-coding": ParserCheck([
        reject("gzip-chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
               501, R_501, at=b"gzip"),
        reject("made-up-coding", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: x-lab, chunked\r\n\r\n0\r\n\r\n",
               501, R_501, at=b"x-lab"),
    ]),
    "body-too-large": ParserCheck([
        reject("content-length-over-limit", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 100\r\n\r\n", 413, R_413,
               limits={"max_body": 10}, at=b"100"),
        reject("chunked-over-limit", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
               413, R_413 + " - counted across chunks", limits={"max_body": 10}, at=b"8\r\n12345678\r\n0"),
    ]),
    # --- stage 4: the whole lab, with the student's parser in place of the lab's ---
    "lab-serves-with-your-parser": ServerCheck([
        ServerCase("get-with-query", b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Lab: 1\r\n\r\n", 200,
                   "lab serve --app echo answers with the request your parser produced",
                   body_check=echo_says("GET", "/a?b=c", [["Host", "x"], ["X-Lab", "1"]])),
        ServerCase("post-with-body", b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 200,
                   "the body your parser framed reaches the app whole",
                   body_check=echo_says("POST", "/up", [["Host", "x"], ["Content-Length", "5"]], b"hello")),
    ]),
    "lab-rejects-with-your-parser": ServerCheck([
        ServerCase("space-before-colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-Bad : 1\r\n\r\n", 400, R_COLON_WS,
                   headers=((b"Connection", b"close"),)),
        ServerCase("http-2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, R_505, headers=((b"Connection", b"close"),)),
    ]),
}
