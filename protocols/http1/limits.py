"""Limits a parser enforces while bytes arrive, each with where its number comes from."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    # RFC 9112 §3: "It is RECOMMENDED that all HTTP senders and recipients support, at
    # a minimum, request-line lengths of 8000 octets." nginx's default buffer is 8 KiB.
    max_request_line: int = 8190
    # The field section after the request line; h11 and Node both default to 16 KiB.
    max_header_bytes: int = 16 * 1024
    # Field lines per section (Apache's LimitRequestFields default is 100).
    max_headers: int = 100
    # Body bytes per message. Apps that stream bodies to disk raise it for their routes.
    max_body: int = 16 * 1024 * 1024
    # A chunk-size line with its extensions; far more than any honest client sends.
    max_chunk_line: int = 1024

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
