"""Hidden checks of exercise 03-chunked: never shipped in the student kit."""
from __future__ import annotations

from ..checks.chunked import PARSER, POST, R_BAD, R_EXT, R_HEX, R_TRAILER, head
from ..checks.parser import ParserCheck, accept, data, eom, reject

CHECKS = {
    "chunk-edge-cases": ParserCheck([
        accept("leading-zeros", POST + b"0005\r\nhello\r\n000\r\n\r\n", [head(), data(b"hello"), eom()], R_HEX),
        accept("ext-with-spaces", POST + b"2 ; a = b\r\nok\r\n0\r\n\r\n", [head(), data(b"ok"), eom()], R_EXT + " (BWS around ; and =)"),
        accept("trailer-ows", POST + b"1\r\nz\r\n0\r\nX-T:   padded  \r\n\r\n", [head(), data(b"z"), eom([(b"X-T", b"padded")])],
               R_TRAILER),
        reject("extension-without-name", POST + b"2;\r\nok\r\n0\r\n\r\n", 400, R_BAD, at=b";\r\n"),
        reject("hex-prefix", POST + b"0x5\r\nhello\r\n0\r\n\r\n", 400, R_BAD, at=b"x5"),
    ], parser_module=PARSER),
}
