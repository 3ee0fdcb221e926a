"""HTTP/1.1, sans I/O: a request parser, a response parser and writers (RFC 9112)."""
from .events import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Headers, NeedData, Request, Response,
)
from .limits import Limits
from .parser import RequestParser
from .response_parser import ResponseParser
from .writer import (
    CONTINUE, LAST_CHUNK, body_allowed, encode_chunk, format_request, format_response,
    http_date, response_head, status_line,
)

__all__ = [
    "NEED_DATA", "NeedData", "ConnectionClosed", "Data", "EndOfMessage", "Headers",
    "Request", "Response", "Limits", "RequestParser", "ResponseParser", "CONTINUE",
    "LAST_CHUNK", "body_allowed", "encode_chunk", "format_request", "format_response",
    "http_date", "response_head", "status_line",
]
