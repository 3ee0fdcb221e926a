"""Student-facing feedback: escaped bytes, a caret under the first wrong byte, the rule
it broke, a hint for the error class, and a one-line reproduction.

Everything a student reads passes through ``escape`` or ``sandbox.neutralize``: bytes
from the wire or from student output can never move the cursor, recolour the terminal
or hide a line. Hidden checks never reach ``render_case``: ``render_check`` prints only
their name, category, status and points.
"""
from __future__ import annotations

import shlex

__all__ = ["escape", "escaped_offset", "first_difference", "caret_line", "hint_for", "HINTS", "nc_reproduction"]

_NAMED = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\", 0x00: "\\0"}

# One short hint per common error class (see ``hint_for``).
HINTS = {
    "connection_refused": "Nothing accepted the connection: is the server listening on the port it printed, "
    "on 127.0.0.1, before it prints its `listening on` line?",
    "connection_reset": "The server reset the connection (RST): it closed the socket with unread bytes, "
    "or crashed mid-request. Read the whole request before replying and closing.",
    "eof_empty": "The server closed the connection without sending a byte: it probably raised while handling "
    "the request. Look at its stderr below.",
    "eof_partial": "The server closed the connection before the response was complete.",
    "timeout_empty": "No byte came back before the timeout: the server may be waiting for bytes that will "
    "never come (e.g. reading until EOF, or expecting \\n instead of \\r\\n).",
    "timeout_partial": "Some bytes came back, then nothing: a response that is not complete (Content-Length "
    "larger than the body, or a missing blank line) leaves the client waiting.",
    "wrong_content_length": "Content-Length must be the exact number of body bytes (bytes, not characters).",
    "missing_final_chunk": "A chunked body ends with the last chunk `0\\r\\n` and an empty line `\\r\\n`.",
    "address_in_use": "The port is taken: bind to the port you are given (or 0), and set SO_REUSEADDR.",
    "extra_bytes": "Bytes came after the end of the response: the next response on this connection would be corrupt.",
    "not_implemented": "A method still raises NotImplementedError: this is the starter's stub to replace.",
    "wrong_status": "The input was rejected, but with the wrong status: each rule has its own code.",
    "accepted_bad_input": "This input breaks a MUST of the RFC and has to be rejected with an HTTPError.",
    "rejected_good_input": "This request is valid and has to be parsed, not rejected.",
    "incomplete": "The parser asked for more data (NEED_DATA) although the whole message was fed.",
    "byte_at_a_time": "Whole input works but split input does not: keep partial lines in your buffer and "
    "look for the terminator again when more bytes arrive.",
}


def escape(data: bytes) -> str:
    """Bytes as one printable line: ``\\r\\n`` visible, non-printables as ``\\xNN``."""
    return "".join(_escape_byte(b) for b in data)


def _escape_byte(b: int) -> str:
    if b in _NAMED:
        return _NAMED[b]
    if 0x20 <= b < 0x7F:
        return chr(b)
    return f"\\x{b:02x}"


def escaped_offset(data: bytes, index: int) -> int:
    """Column of byte ``index`` of ``data`` in ``escape(data)``."""
    return sum(len(_escape_byte(b)) for b in data[:index])


def first_difference(expected: str, got: str) -> int | None:
    """Index of the first character where ``got`` departs from ``expected``."""
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return i
    if len(expected) == len(got):
        return None
    return min(len(expected), len(got))


def caret_line(prefix_width: int, column: int) -> str:
    return " " * (prefix_width + column) + "^"


def hint_for(error_class: str) -> str:
    return HINTS.get(error_class, "")


def nc_reproduction(data: bytes, port: int | str = "PORT") -> str:
    """``printf '...' | nc 127.0.0.1 PORT``: printf's own escapes, shell-quoted."""
    body = "".join(
        {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x25: "%%", 0x5C: "\\\\", 0x27: "'\\''"}.get(b)
        or (chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}")
        for b in data
    )
    return f"printf '{body}' | nc 127.0.0.1 {port}"


def python_reproduction(data: bytes, module: str = "parser", feed: str = "whole") -> str:
    """A one-liner that feeds the same bytes to the student's parser, run from their folder."""
    if feed == "one byte at a time":
        loop = "[p.receive_data(bytes([c])) for c in d]"
    else:
        loop = "p.receive_data(d)"
    code = (
        f"from {module} import RequestParser; from protocols.http1 import NEED_DATA; "
        f"p = RequestParser(); d = {data!r}; {loop}; print(*iter(p.next_event, NEED_DATA), sep='\\n')"
    )
    return "python -c " + shlex.quote(code)
