"""Routing a request target to a handler, with 404 and 405 answered as RFC 9110 says."""
from __future__ import annotations

import re
from typing import Callable
from urllib.parse import parse_qs, unquote

from protocols.errors import HTTPError
from protocols.http1 import Request

from .app import Answer

__all__ = ["Router", "split_target", "query_params"]

Handler = Callable[..., Answer]


def split_target(target: bytes) -> tuple[str, str]:
    """(path, query) of an origin-form or absolute-form target (RFC 9112 §3.2)."""
    if target[:1] != b"/" and b"://" in target:  # absolute-form: drop scheme and authority
        rest = target.split(b"://", 1)[1]
        slash = rest.find(b"/")
        target = rest[slash:] if slash >= 0 else b"/"
    path, _, query = target.partition(b"?")
    return unquote(path.decode("latin-1")), query.decode("latin-1")


def query_params(query: str) -> dict[str, str]:
    """The last value of each parameter: `?after=3&wait=5` -> {"after": "3", "wait": "5"}."""
    return {name: values[-1] for name, values in parse_qs(query, keep_blank_values=True).items()}


class Router:
    """Routes are regular expressions over the decoded path with named groups; each maps
    methods to handlers called as `handler(request, **groups)`."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], dict[bytes, Handler]]] = []

    def add(self, pattern: str, **handlers: Handler) -> None:
        methods = {name.upper().encode(): handler for name, handler in handlers.items()}
        self._routes.append((re.compile(pattern), methods))

    def __call__(self, request: Request) -> Answer:
        path, _ = split_target(request.target)
        for regex, methods in self._routes:
            match = regex.fullmatch(path)
            if match is None:
                continue
            handler = methods.get(request.method) or methods.get(b"ANY")
            if handler is None and request.method == b"HEAD":
                handler = methods.get(b"GET")  # RFC 9110 §9.3.2: HEAD is GET without content
            if handler is None:
                allow = sorted(methods) + ([b"HEAD"] if b"GET" in methods and b"HEAD" not in methods else [])
                # RFC 9110 §15.5.6: "The origin server MUST generate an Allow header
                # field in a 405 response containing a list of the target resource's
                # currently supported methods."
                raise HTTPError(405, f"{request.method.decode()} not allowed here",
                                [(b"Allow", b", ".join(sorted(allow)))])
            return handler(request, **match.groupdict())
        raise HTTPError(404, f"no resource at {path}")
