"""Message heads: the request line, the status line and field lines (RFC 9112 §2-§5).

Exercise 01 starter: this file takes the place of the lab's `protocols/http1/head.py`.
Keep the names and signatures; replace each `raise NotImplementedError(...)` with the
real thing. `lab grade --exercise 01-request-parsing --submission .` tells you how far
you are. Read RFC 9112 §3 (request line) and §5 (field lines) first. `TOKEN` (body.py
uses it for chunk extensions), `valid_host` (the grammar of a Host value) and `_show`
are given.
"""
from __future__ import annotations

import re

from ..errors import HTTPError
from .events import Headers

__all__ = [
    "parse_request_line", "parse_status_line", "parse_fields", "header_tokens", "valid_host",
]

# RFC 9110 §5.6.2: token = 1*tchar; tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" /
# "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
TOKEN = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+"

# RFC 9110 §7.2: Host = uri-host [ ":" port ]; RFC 3986 §3.2.2: uri-host = IP-literal /
# IPv4address / reg-name, reg-name = *( unreserved / pct-encoded / sub-delims ). An
# IP-literal is "[" ... "]"; its inside is left to the app (we route on names only).
valid_host = re.compile(
    rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=-]+\]|[0-9A-Za-z._~!$&'()*+,;=%-]*)(?::[0-9]*)?"
).fullmatch


def parse_request_line(data: bytes, end: int | None = None) -> tuple[bytes, bytes, bytes]:
    """Split and check a request line: `data[:end]`, without its CRLF (a parser passes
    its receive buffer and where the line ends, and copies nothing). Returns (method,
    target, version)."""
    raise NotImplementedError(
        "parse_request_line: split `method SP target SP HTTP/x.y` on exactly one space each "
        "(RFC 9112 §3), check method is a token and the version is HTTP/DIGIT.DIGIT; raise "
        "HTTPError(400, ...) for a malformed line, HTTPError(505, ...) for a major version "
        "other than 1; return the version as b'1.1' or b'1.0'. The line is data[:end] (end "
        "None: all of data)"
    )


def parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    """Split and check a status line (no CRLF). Returns (version, status, reason)."""
    raise NotImplementedError(
        "parse_status_line is not graded in exercise 01 (the lab's client uses its own); "
        "`HTTP/1.1 200 OK` -> (b'1.1', 200, b'OK'), HTTPError(502) when malformed"
    )


def parse_fields(data: bytes, start: int = 0, end: int | None = None) -> Headers:
    """Parse a field section, `data[start:end]`: zero or more field lines, each ending in
    CRLF."""
    raise NotImplementedError(
        "parse_fields: each line is `name: value` (RFC 9112 §5). The name is a token and "
        "ends at the first colon, with no whitespace before it (§5.1: 400); strip spaces "
        "and tabs around the value; keep names as sent and lines in order; refuse a line "
        "starting with SP/HTAB (obs-fold, §5.2) and bare CRs (§2.2). The section is "
        "data[start:end] (end None: to the end)"
    )


def diagnose_fields(section: bytes) -> None:
    """Raise the precise 400 for a field section the fast path refused."""
    raise NotImplementedError(
        "diagnose_fields (a helper of parse_fields, yours to keep or drop): raise the "
        "precise HTTPError(400) for a field section that the quick path refused: a line "
        "without a colon, whitespace before the colon (§5.1), obs-fold (§5.2), a bare CR or "
        "LF (§2.2), a bad character in the name or the value"
    )


def header_tokens(value: bytes) -> list[bytes]:
    """A comma-separated list of tokens, lower-cased (RFC 9110 §5.6.1)."""
    # One token, as in `Connection: keep-alive`. (0x2C is ","; an int is searched with
    # memchr, while `b"," in value` first raises and clears a TypeError.)
    raise NotImplementedError(
        "header_tokens: b'Keep-Alive, Upgrade' -> [b'keep-alive', b'upgrade'] (split on "
        "commas, strip OWS, lower-case, drop empty items)"
    )


def _show(data: bytes, limit: int = 80) -> str:
    text = repr(data[:limit])[1:]
    return text + ("..." if len(data) > limit else "")
