"""Message heads: the request line, the status line and field lines (RFC 9112 §2-§5).

One compiled regular expression, anchored at line starts, both checks and extracts a
whole field section at C speed with no per-byte Python loop: each match holds exactly
one LF, so the section is well formed exactly when there are as many matches as LFs.
Only when that fails does `diagnose_fields` walk the lines to say which rule was broken.

No quantifier in these expressions can give back what it took (they are possessive or
followed by a byte they cannot match), so a refused section costs linear time: a
backtracking match that tried every split of optional whitespace took 27 s on 16 lines.
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
# RFC 9110 §5.5: field-value = *field-content; field-content = field-vchar
# [ 1*( SP / HTAB / field-vchar ) field-vchar ]; field-vchar = VCHAR / obs-text.
# Any other byte (NUL, a bare CR or LF, other controls, DEL) is invalid.
_VCHAR = rb"[\x21-\x7e\x80-\xff]"
_VALUE = _VCHAR + rb"+(?:[ \t]+" + _VCHAR + rb"+)*"
# RFC 9112 §5: field-line = field-name ":" OWS field-value OWS; no whitespace is
# allowed between the name and the colon (§5.1). `^` with MULTILINE matches only at
# the start of the section and right after an LF.
# The pattern is unambiguous, so a bad line fails in linear time: a value starts and
# ends with a visible char, and the OWS after it belongs to the optional group, so
# every run of spaces can be matched one way only. (Possessive quantifiers would do it
# too, but CPython 3.11.2, Debian 12's python3, matches them wrongly: it kept the
# trailing OWS in the value.)
_FIELDS = re.compile(
    rb"^(" + TOKEN + rb"):[ \t]*(?:(" + _VALUE + rb")[ \t]*)?\r\n", re.MULTILINE
)
_FIELD_LINE = re.compile(TOKEN + rb":[ \t]*(?:" + _VALUE + rb"[ \t]*)?")

# RFC 9112 §3: request-line = method SP request-target SP HTTP-version, with exactly
# one SP between parts. The target's characters are those of RFC 3986 (visible ASCII);
# anything else (space, controls, raw UTF-8) must be percent-encoded by the client.
_REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([!-~]+) HTTP/([0-9])\.([0-9])")
_ABSOLUTE_FORM = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://[!-~]*")
# RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3}) ([\t\x20-\x7e\x80-\xff]*)")


_VERSIONS = {b"0": b"1.0", b"1": b"1.1"}

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
    if end is None:
        end = len(data)
    match = _REQUEST_LINE.fullmatch(data, 0, end)
    if match is None:
        raise HTTPError(400, f"malformed request line {_show(bytes(data[:end]))}")
    method, target, major, minor = match.groups()
    # RFC 9110 §6.2: a server may send 505 for a major version it does not support.
    if major != b"1" or minor not in (b"0", b"1"):
        raise HTTPError(505, f"HTTP/{major.decode()}.{minor.decode()} is not supported")
    # RFC 9112 §3.2: the four forms of request-target and where each is allowed.
    if target[0] != 0x2F:  # "/": origin-form, by far the most common
        if target == b"*":
            if method != b"OPTIONS":
                raise HTTPError(400, "asterisk-form is only for OPTIONS (RFC 9112 §3.2.4)")
        elif method == b"CONNECT":
            pass  # authority-form; the app answers CONNECT (we are no proxy)
        elif _ABSOLUTE_FORM.fullmatch(target) is None:
            raise HTTPError(400, f"malformed request-target {_show(target)}")
    return method, target, _VERSIONS[minor]


def parse_status_line(line: bytes) -> tuple[bytes, int, bytes]:
    """Split and check a status line (no CRLF). Returns (version, status, reason)."""
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise HTTPError(502, f"malformed status line {_show(line)}")
    major, minor, status, reason = match.groups()
    if major != b"1":
        raise HTTPError(502, f"HTTP/{major.decode()} response on an HTTP/1 connection")
    return b"1." + minor, int(status), reason


def parse_fields(data: bytes, start: int = 0, end: int | None = None) -> Headers:
    """Parse a field section, `data[start:end]`: zero or more field lines, each ending in
    CRLF."""
    if end is None:
        end = len(data)
    fields = _FIELDS.findall(data, start, end)
    # Every match starts at a line start and ends at its line's LF, so as many matches
    # as LFs (with the section ending in one) means the matches tile the section.
    if len(fields) != data.count(b"\n", start, end) or (end > start and data[end - 1] != 0x0A):
        diagnose_fields(bytes(data[start:end]))
    return fields


def diagnose_fields(section: bytes) -> None:
    """Raise the precise 400 for a field section the fast path refused."""
    lines = section.split(b"\r\n")
    if lines[-1]:
        raise HTTPError(400, f"field section does not end in CRLF: {_show(lines[-1])}")
    for line in lines[:-1]:
        if b"\n" in line:
            # RFC 9112 §2.2: a recipient MAY take a bare LF as a line end; we refuse it,
            # since an intermediary that does not would read different fields.
            raise HTTPError(400, f"bare LF in field line: {_show(line)}")
        if _FIELD_LINE.fullmatch(line) is not None:
            continue
        if line[:1] in (b" ", b"\t"):
            # RFC 9112 §5.2: "A server that receives an obs-fold in a request message
            # ... MUST either reject the message by sending a 400 (Bad Request)..."
            raise HTTPError(400, f"obs-fold (line folding) is not allowed: {_show(line)}")
        name, colon, value = line.partition(b":")
        if not colon:
            raise HTTPError(400, f"field line without a colon: {_show(line)}")
        if name[-1:] in (b" ", b"\t"):
            # RFC 9112 §5.1: "A server MUST reject, with a response status code of
            # 400 (Bad Request), any received request message that contains
            # whitespace between a header field name and colon."
            raise HTTPError(400, f"whitespace between field name and colon: {_show(line)}")
        if re.fullmatch(TOKEN, name) is None:
            raise HTTPError(400, f"invalid character in field name: {_show(line)}")
        if b"\r" in value:
            # RFC 9112 §2.2: a bare CR outside the line terminator is invalid.
            raise HTTPError(400, f"bare CR in field value: {_show(line)}")
        raise HTTPError(400, f"invalid character in field value: {_show(line)}")
    raise HTTPError(400, "malformed field section")


def header_tokens(value: bytes) -> list[bytes]:
    """A comma-separated list of tokens, lower-cased (RFC 9110 §5.6.1)."""
    # One token, as in `Connection: keep-alive`. (0x2C is ","; an int is searched with
    # memchr, while `b"," in value` first raises and clears a TypeError.)
    if 0x2C not in value:
        item = value.strip(b" \t").lower()
        return [item] if item else []
    return [item.strip(b" \t").lower() for item in value.split(b",") if item.strip(b" \t")]


def _show(data: bytes, limit: int = 80) -> str:
    text = repr(data[:limit])[1:]
    return text + ("..." if len(data) > limit else "")
