"""Request lines and field sections already parsed, and what parsing each gave.

    line, _, section = head.partition(b"\r\n")
    request_line = REQUEST_LINES.get(line) or remember_request_line(line, parse_request_line(line))
    fields, framing = SECTIONS.get(section) or remember_section(section, parse_fields(section))

A client sends the same fields with every request of a connection, and most requests go
to a few targets (HPACK, RFC 7541, rests on the same observation). Parsing is a function
of the bytes alone, so a remembered result is what parsing again would give, and looking
it up costs a fraction of the regular expressions: for the benchmark's two-line head the
parser's work falls by a quarter, for a browser's twelve fields by two thirds.

Each table keeps up to 256 entries and is emptied when full, so what came once cannot
crowd out what comes every time. A section is kept the second time it comes: heads that
never repeat then cost ~10% more to parse than without the memo, where keeping each one
cost 20% more (`python -m lab.bench_parser`'s random corpus). A section with credentials
is never kept: whether a lookup hit or missed would tell another client, by its timing,
what was sent (the reason HPACK never indexes them, RFC 7541 §7.1.3). The lists kept
here are never handed out: the parser gives each request a copy of its own.
"""
from __future__ import annotations

from .events import Headers

__all__ = [
    "REQUEST_LINES", "SECTIONS", "SEEN_ONCE", "FRAMING_FIELDS", "remember_request_line",
    "remember_section",
]

RequestLine = tuple[bytes, bytes, bytes]  # method, target, version

ENTRIES = 256
MAX_BYTES = 2048  # longer lines and sections are parsed every time: at most ~1 MiB kept
# The fields that decide framing, persistence and what the server must do first. Most
# fields are none of these, and the parser's framing reads only those that are.
FRAMING_FIELDS = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade")
)
SECRET_FIELDS = frozenset((b"authorization", b"proxy-authorization", b"cookie"))
_SECRET_LINES = tuple(b"\n" + name + b":" for name in SECRET_FIELDS)  # as a line starts

REQUEST_LINES: dict[bytes, RequestLine] = {}
SECTIONS: dict[bytes, tuple[Headers, Headers]] = {}  # -> (fields, the framing ones)
SEEN_ONCE: set[int] = set()  # hashes of sections seen once, up to 4 * ENTRIES


def remember_request_line(line: bytes, parsed: RequestLine) -> RequestLine:
    """Keep what `parse_request_line(line)` gave, unless the line is long; returns it."""
    if len(line) <= MAX_BYTES:
        if len(REQUEST_LINES) >= ENTRIES:
            REQUEST_LINES.clear()
        REQUEST_LINES[line] = parsed
    return parsed


def remember_section(section: bytes, fields: Headers) -> tuple[Headers, Headers]:
    """Keep what `parse_fields(section)` gave, the second time the section comes, unless
    it is long or carries credentials. Returns the fields and those of them `_framing`
    must read: those in FRAMING_FIELDS when kept, else all of them."""
    key = hash(section)
    if key not in SEEN_ONCE:
        if len(SEEN_ONCE) >= 4 * ENTRIES:
            SEEN_ONCE.clear()
        SEEN_ONCE.add(key)
        return fields, fields
    if len(section) > MAX_BYTES or _has_credentials(section):
        return fields, fields
    framing = [field for field in fields if field[0].lower() in FRAMING_FIELDS]
    if len(SECTIONS) >= ENTRIES:
        SECTIONS.clear()
    SECTIONS[section] = fields, framing
    return fields, framing


def _has_credentials(section: bytes) -> bool:
    lines = b"\n" + section.lower()  # every line of a parsed section starts with a name
    return any(start in lines for start in _SECRET_LINES)
