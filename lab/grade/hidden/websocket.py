"""Hidden checks of exercise 10-websocket-frames: never shipped in the student kit."""
from __future__ import annotations

from ..checks.programs import ProgramCheck
from ..checks.websocket import PROGRAM, R_CLOSE, R_SIZE, R_UTF8, M, MB, frame, parses

CHECKS = {
    "close-codes": ProgramCheck(PROGRAM, [
        *parses("empty-close", frame(8, b""), [["Close", 1005, ""]], R_CLOSE),
        *parses("code-3000", frame(8, b"\x0b\xb8"), [["Close", 3000, ""]], R_CLOSE),
        *parses("one-byte-body", frame(8, b"\x03"), [], R_CLOSE, error=1002),
        *parses("code-1005-sent", frame(8, b"\x03\xed"), [], R_CLOSE, error=1002),
        *parses("code-999", frame(8, b"\x03\xe7"), [], R_CLOSE, error=1002),
        *parses("reason-not-utf8", frame(8, b"\x03\xe8\xff"), [], R_CLOSE, error=1007),
    ]),
    "utf8-across-fragments": ProgramCheck(PROGRAM, [
        *parses("char-split", frame(1, b"a\xe2", fin=False) + frame(0, b"\x9c\x93b"), [M("a\u2713b")], R_UTF8),
        *parses("invalid-text", frame(1, b"\xff"), [], R_UTF8, error=1007),
        *parses("invalid-across-fragments", frame(1, b"\xe2", fin=False) + frame(0, b"\x28"), [], R_UTF8,
                error=1007),
        *parses("binary-is-not-utf8", frame(2, b"\xff\xfe"), [MB(b"\xff\xfe")], R_UTF8),
    ]),
    "message-too-big": ProgramCheck(PROGRAM, [
        *parses("over-the-limit", frame(2, b"x" * 101), [], R_SIZE, error=1009, max_message=100),
        *parses("fragments-over-the-limit", frame(2, b"x" * 60, fin=False) + frame(0, b"x" * 60), [], R_SIZE,
                error=1009, max_message=100),
        *parses("at-the-limit", frame(2, b"x" * 100), [MB(b"x" * 100)], R_SIZE, max_message=100),
    ]),
}
