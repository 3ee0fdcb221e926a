"""Check bodies for exercise 02-responses-keepalive (RFC 9112 §4, §6, §9; RFC 9110 §6.4, §6.6.1, §8.6).

Stage 1 calls the student's writer functions directly. Stage 2 runs the whole lab
(``lab serve --app echo --io threads``) on the student's ``writer.py`` and
``connection.py`` and talks to it over sockets: several requests on one connection,
pipelined in one write, HTTP/1.0, ``Connection: close``, HEAD. A byte after the last
expected response fails, a wrong Content-Length fails, answers out of order fail.
"""
from __future__ import annotations

from .calls import CallCase, CallCheck
from .conversation import CLOSED, OPEN, Conversation, ConversationCheck, Expect

HELPERS = ('''
import re as _re, time as _time
from email.utils import parsedate_to_datetime as _parse_date

def shape(raw):
    """(status line, sorted fields without Date, body, head ended by CRLFCRLF)"""
    head, sep, body = raw.partition(b"\\r\\n\\r\\n")
    lines = head.split(b"\\r\\n")
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.lower() != b"date":
            fields.append((name.lower(), value.strip()))
    return (lines[0], tuple(sorted(fields)), body, sep == b"\\r\\n\\r\\n")

_IMF = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d\\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \\d{4} \\d\\d:\\d\\d:\\d\\d GMT"

def date_problem(raw):
    m = _re.search(rb"\\r\\nDate: ([^\\r\\n]*)\\r\\n", raw)
    if m is None:
        return "no Date field"
    value = m.group(1).decode("latin-1")
    if not _re.fullmatch(_IMF, value):
        return "not an IMF-fixdate: " + value
    age = abs(_parse_date(value).timestamp() - _time.time())
    return None if age < 5 else "%s is %d s away from now" % (value, age)
''',)

R_STATUS = "RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF"
R_DATE = ("RFC 9110 §6.6.1: An origin server with a clock MUST generate a Date header field in all 2xx, 3xx and 4xx "
          "responses; its value is an IMF-fixdate (Sun, 06 Nov 1994 08:49:37 GMT)")
R_CL = "RFC 9110 §8.6: Content-Length is the number of octets of the content: bytes, not characters"
R_CLOSE = "RFC 9112 §9.6: a server that will close the connection after this response sends `Connection: close` in it"
R_HEAD = ("RFC 9110 §9.3.2: the server MUST NOT send content in the response to HEAD; its Content-Length may be "
          "the one GET would get")
R_NOBODY = ("RFC 9110 §8.6: A server MUST NOT send a Content-Length header field in any response with a status code "
            "of 1xx (Informational) or 204 (No Content); RFC 9110 §6.4.1: 1xx, 204 and 304 responses have no content")
R_KEEP = "RFC 9112 §9.3: HTTP/1.1 defaults to persistent connections: more requests follow on the same connection"
R_PIPE = ("RFC 9112 §9.3.2: A server MAY process a sequence of pipelined requests in parallel ... but MUST send the "
          "corresponding responses in the same order that the requests were received")
R_CONN_CLOSE = ("RFC 9112 §9.6: A server that receives a \"close\" connection option MUST initiate closure of the "
                "connection after it sends the final response to the request that contained the \"close\"; it MUST NOT "
                "process any further requests received on that connection")
R_10 = ("RFC 9112 §9.3: a request with HTTP/1.0 is persistent only with the \"keep-alive\" connection option "
        "(RFC 9112 Appendix C.2.2)")
R_ERROR = "RFC 9112 §9.6 and the lab's contract: a request that cannot be parsed gets its status, `Connection: close`, then closure"

CT = (b"Content-Type", b"text/plain")


def get(target: str, *extra: bytes, version: bytes = b"1.1") -> bytes:
    return b"GET " + target.encode() + b" HTTP/" + version + b"\r\nHost: x\r\n" + b"".join(extra) + b"\r\n"


def echoed(target: str) -> bytes:
    return b'"target":"' + target.encode() + b'"'


def shape(status_line: bytes, fields: list, body: bytes = b"") -> tuple:
    return (status_line, tuple(sorted((n.lower(), v) for n, v in fields)), body, True)


CHECKS = {
    # --- stage 1: the writer ---
    "status-line": CallCheck([
        CallCase("200", "writer.status_line(200)", R_STATUS, expect=b"HTTP/1.1 200 OK\r\n"),
        CallCase("404", "writer.status_line(404)", R_STATUS, expect=b"HTTP/1.1 404 Not Found\r\n"),
        CallCase("503", "writer.status_line(503)", R_STATUS, expect=b"HTTP/1.1 503 Service Unavailable\r\n"),
        CallCase("unknown-code", "writer.status_line(599)", R_STATUS + "; the reason phrase is optional",
                 expect=b"HTTP/1.1 599 \r\n"),
        CallCase("not-three-digits", "writer.status_line(1000)", "RFC 9110 §15: status-code = 3DIGIT", raises="ValueError"),
    ], helpers=HELPERS),
    "date-header": CallCheck([
        CallCase("in-a-response", 'date_problem(writer.format_response(200, [], b"x"))', R_DATE, expect=None),
        CallCase("in-an-error", 'date_problem(writer.format_response(404, [], b"no", keep_alive=False))', R_DATE,
                 expect=None),
        CallCase("http-date", 'date_problem(b"\\r\\nDate: " + writer.http_date() + b"\\r\\n")', R_DATE, expect=None),
    ], helpers=HELPERS),
    "content-length": CallCheck([
        CallCase("hello", 'shape(writer.format_response(200, [(b"Content-Type", b"text/plain")], b"hello"))', R_CL,
                 expect=shape(b"HTTP/1.1 200 OK", [CT, (b"Content-Length", b"5")], b"hello")),
        CallCase("utf-8-bytes", 'shape(writer.format_response(200, [], "h\\u00e9llo \\u2713".encode()))', R_CL,
                 expect=shape(b"HTTP/1.1 200 OK", [(b"Content-Length", b"10")], "h\u00e9llo \u2713".encode())),
        CallCase("empty", 'shape(writer.format_response(200, [], b""))', R_CL + "; an empty body is Content-Length: 0",
                 expect=shape(b"HTTP/1.1 200 OK", [(b"Content-Length", b"0")])),
        CallCase("streamed-is-chunked", "shape(writer.response_head(200, [], length=None))",
                 "RFC 9112 §6.1: a body of unknown length to an HTTP/1.1 client is chunked",
                 expect=shape(b"HTTP/1.1 200 OK", [(b"Transfer-Encoding", b"chunked")])),
    ], helpers=HELPERS),
    "connection-close": CallCheck([
        CallCase("closing", 'shape(writer.format_response(400, [], b"bad", keep_alive=False))', R_CLOSE,
                 expect=shape(b"HTTP/1.1 400 Bad Request", [(b"Content-Length", b"3"), (b"Connection", b"close")], b"bad")),
        CallCase("persistent", 'shape(writer.format_response(200, [], b"ok"))',
                 "RFC 9112 §9.3: a persistent connection needs no Connection field",
                 expect=shape(b"HTTP/1.1 200 OK", [(b"Content-Length", b"2")], b"ok")),
        CallCase("close-delimited", "shape(writer.response_head(200, [], length=None, chunked=False))",
                 "RFC 9112 §6.3: a body delimited by closing the connection needs `Connection: close`",
                 expect=shape(b"HTTP/1.1 200 OK", [(b"Connection", b"close")])),
    ], helpers=HELPERS),
    "bodiless-responses": CallCheck([
        CallCase("head", 'shape(writer.format_response(200, [], b"hello", method=b"HEAD"))', R_HEAD,
                 expect=shape(b"HTTP/1.1 200 OK", [(b"Content-Length", b"5")])),
        CallCase("204", 'shape(writer.format_response(204, [], b""))', R_NOBODY,
                 expect=shape(b"HTTP/1.1 204 No Content", [])),
        CallCase("304", 'shape(writer.format_response(304, [], b"cached"))', R_NOBODY,
                 expect=shape(b"HTTP/1.1 304 Not Modified", [])),
        CallCase("1xx", "shape(writer.response_head(103, [], length=None))", R_NOBODY,
                 expect=shape(b"HTTP/1.1 103 Early Hints", [])),
        CallCase("body-allowed", '[writer.body_allowed(s, m) for s, m in [(200, b"GET"), (200, b"HEAD"), (101, b"GET"), '
                 '(204, b"GET"), (304, b"GET"), (404, b"POST")]]', R_NOBODY,
                 expect=[True, False, False, False, False, True]),
    ], helpers=HELPERS),
    # --- stage 2: persistent connections, over sockets ---
    "keep-alive-by-default": ConversationCheck([
        Conversation("two-requests-one-connection", R_KEEP, (
            get("/k1"), Expect(200, absent=(b"Connection",), contains=echoed("/k1")),
            get("/k2"), Expect(200, absent=(b"Connection",), contains=echoed("/k2")), OPEN)),
    ]),
    "pipelining-in-order": ConversationCheck([
        Conversation("three-in-one-write", R_PIPE, (
            get("/p1") + get("/p2") + b"POST /p3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            Expect(200, contains=echoed("/p1")), Expect(200, contains=echoed("/p2")),
            Expect(200, contains=echoed("/p3")), OPEN)),
    ]),
    "connection-close-honoured": ConversationCheck([
        Conversation("close-then-nothing", R_CONN_CLOSE, (
            get("/c1", b"Connection: close\r\n") + get("/c2"),
            Expect(200, headers=((b"Connection", b"close"),), contains=echoed("/c1")), CLOSED)),
    ]),
    "http-1.0": ConversationCheck([
        Conversation("closes-by-default", R_10, (
            get("/old", version=b"1.0"), Expect(200, headers=((b"Connection", b"close"),), contains=echoed("/old")),
            CLOSED)),
        Conversation("keep-alive-option", R_10, (
            get("/ka1", b"Connection: keep-alive\r\n", version=b"1.0"), Expect(200, contains=echoed("/ka1")),
            get("/ka2", b"Connection: keep-alive\r\n", version=b"1.0"), Expect(200, contains=echoed("/ka2")), OPEN)),
    ]),
    "head-then-get": ConversationCheck([
        Conversation("head-has-no-body", R_HEAD, (
            b"HEAD /h1 HTTP/1.1\r\nHost: x\r\n\r\n" + get("/h2"),
            Expect(200, no_body=True), Expect(200, contains=echoed("/h2")), OPEN)),
    ]),
    "errors-close": ConversationCheck([
        Conversation("bad-request-then-nothing", R_ERROR, (
            b"GET /e1 HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n" + get("/e2"),
            Expect(400, headers=((b"Connection", b"close"),)), CLOSED)),
    ]),
    "content-length-exact": ConversationCheck([
        Conversation("binary-body-echoed", R_CL, (
            b"POST /bin HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n" + bytes(range(256)) + "é".encode() * 22,
            Expect(200, contains=echoed("/bin")), get("/after"), Expect(200, contains=echoed("/after")), OPEN)),
    ]),
}
