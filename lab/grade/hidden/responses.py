"""Hidden checks of exercise 02-responses-keepalive: never shipped in the student kit."""
from __future__ import annotations

from ..checks.calls import CallCase, CallCheck
from ..checks.conversation import OPEN, Conversation, ConversationCheck, Expect
from ..checks.responses import HELPERS, R_PIPE, echoed

CHECKS = {
    "field-injection-refused": CallCheck([
        CallCase("crlf-in-value", 'writer.format_response(200, [(b"X-Note", b"a\\r\\nSet-Cookie: stolen=1")], b"")',
                 "RFC 9110 §5.5: a field value never contains CR or LF: writing one would let a value add fields",
                 raises="ValueError", data=b"a\r\nSet-Cookie: stolen=1"),
    ], helpers=HELPERS),
    "pipelined-across-reads": ConversationCheck([
        Conversation("requests-split-anywhere", R_PIPE, (
            b"GET /s1 HTTP/1.1\r\nHo", 0.05, b"st: x\r\n\r\nPOST /s2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab",
            0.05, b"cdGET /s3 HTTP/1.1\r\nHost: x\r\n\r\n",
            Expect(200, contains=echoed("/s1")), Expect(200, contains=echoed("/s2")),
            Expect(200, contains=echoed("/s3")), OPEN)),
    ]),
}
