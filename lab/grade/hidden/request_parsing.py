"""Hidden checks of exercise 01-request-parsing: their inputs never leave the grader.

``manifest.check_registry`` merges ``CHECKS`` from ``lab.grade.hidden.<checks module>``
into the visible ones; ``lab kit build`` leaves this whole package out of the student
edition, so no hidden input or expected byte is in the kit (a test greps for them).
"""
from __future__ import annotations

from ..checks.parser import Case, ParserCheck, accept, eom, reject, req
from ..checks.request_parsing import H, HOST, R_EMPTY, R_TE_CL

CHECKS = {
    # --- hidden: request smuggling and limits at their exact edge ---
    "smuggling-te-and-cl": ParserCheck([
        reject("te-and-cl", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
               400, R_TE_CL + "; this lab rejects it (400): the safe choice against request smuggling",
               at=b"Transfer-Encoding"),
    ]),
    "limits-at-the-edge": ParserCheck([
        accept("request-line-exactly-at-limit",
               b"GET /" + b"a" * (8190 - len(b"GET / HTTP/1.1")) + b" HTTP/1.1\r\n" + H + b"\r\n",
               [req(b"GET", b"/" + b"a" * (8190 - len(b"GET / HTTP/1.1")), b"1.1", [HOST]), eom()],
               "a request-line of exactly max_request_line bytes (CRLF not counted) is accepted", feeds=("whole", "random")),
        accept("exactly-max-headers",
               b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(99)) + b"\r\n",
               [req(b"GET", b"/", b"1.1", [HOST, *[(b"X-%d" % i, b"%d" % i) for i in range(99)]]), eom()],
               "exactly max_headers (100) field lines are accepted", feeds=("whole", "random")),
    ]),
    "obsolete-line-folding": ParserCheck([
        Case("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-Folded: a\r\n b\r\n\r\n",
             (400, (req(b"GET", b"/", b"1.1", [HOST, (b"X-Folded", b"a b")]), eom())),
             "RFC 9112 §5.2: A server that receives an obs-fold in a request message ... MUST either reject "
             "the message by sending a 400 (Bad Request) ... or replace each received obs-fold with one or "
             "more SP octets", at=b"\r\n b"),
        Case("bare-cr", b"GET / HTTP/1.1\r\n" + H + b"X-Cr: a\rb\r\n\r\n",
             (400, (req(b"GET", b"/", b"1.1", [HOST, (b"X-Cr", b"a b")]), eom())),
             "RFC 9112 §2.2: A recipient of such a bare CR MUST consider that element to be invalid or "
             "replace each bare CR with SP before processing", at=b"\rb"),
    ]),
    "robustness": ParserCheck([
        accept("empty-line-before-request", b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n",
               [req(b"GET", b"/", b"1.1", [HOST]), eom()], R_EMPTY),
        accept("pipelined-second-request-waits", b"GET /a HTTP/1.1\r\n" + H + b"\r\nGET /b HTTP/1.1\r\n" + H + b"\r\n",
               [req(b"GET", b"/a", b"1.1", [HOST]), eom()],
               "RFC 9112 §9.3.2: pipelined requests are answered one at a time: the first is a complete message "
               "on its own", feeds=("whole",)),
    ]),
}
