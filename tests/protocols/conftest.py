"""Fixtures for the HTTP/1.1 core: feed a parser every way its input can arrive.

STYLE.md §8: a parser must say the same thing whether its input comes whole, one byte
at a time, in random pieces, or followed by the start of the next message. `feed`
runs all of these and asserts the event lists are identical (adjacent `Data` events
merged, since how a body is cut depends on how it arrived); `feed.rejects` asserts every
way raises the same `HTTPError` status.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest

from protocols.errors import HTTPError
from protocols.http1 import (
    NEED_DATA, ConnectionClosed, Data, EndOfMessage, Limits, RequestParser, ResponseParser,
)

# The start of a pipelined next request: never complete, so it must change nothing.
NEXT_REQUEST = b"GET /next HTTP/1.1\r\nHost: a\r\nX-Par"

Parser = RequestParser | ResponseParser


def drain(parser: Parser, out: list) -> None:
    """Append events until the parser needs data or says the connection is done."""
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            return
        out.append(event)
        if type(event) is ConnectionClosed:
            return


def merge_data(events: list) -> list:
    """Adjacent Data events as one: how a body is cut depends on how it arrived."""
    merged: list = []
    for event in events:
        if type(event) is Data and merged and type(merged[-1]) is Data:
            merged[-1] = Data(merged[-1].data + event.data)
        else:
            merged.append(event)
    return merged


def run(parser: Parser, chunks: list[bytes], eof: bool) -> list:
    out: list = []
    for chunk in [*chunks, b""] if eof else chunks:
        parser.receive_data(chunk)
        drain(parser, out)
        if out and type(out[-1]) is ConnectionClosed:
            break  # the parser said it reads nothing more
    return merge_data(out)


def splits(data: bytes, seed: int) -> Iterator[tuple[str, list[bytes]]]:
    """Whole, byte by byte, and three seeded random cuttings."""
    yield "whole", [data]
    yield "bytewise", [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for n in range(3):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 8)))) if len(data) > 1 else []
        bounds = [0, *cuts, len(data)]
        yield f"random{n}", [data[a:b] for a, b in zip(bounds, bounds[1:])]


class Feeder:
    """Feeds one input to fresh parsers in every way and checks they agree."""

    def __init__(self, make: Callable[..., Parser]) -> None:
        self.make = make

    def __call__(
        self, data: bytes, *, eof: bool = False, trailing: bool = True, seed: int = 0, **kw
    ) -> list:
        results = {}
        for how, chunks in splits(data, seed):
            results[how] = run(self.make(**kw), chunks, eof)
        whole = results["whole"]
        for how, events in results.items():
            assert events == whole, f"{how} differs from whole"
        # The same bytes with the start of a further message behind them. A parser that
        # ends the connection ignores those bytes; one that keeps it must wait for more.
        if trailing and not eof:
            parser = self.make(**kw)
            assert run(parser, [data + NEXT_REQUEST], eof) == whole, "trailing bytes changed the events"
            if whole and type(whole[-1]) is EndOfMessage:
                assert parser.consumed == len(data)
        return whole

    def rejects(self, data: bytes, *, eof: bool = False, seed: int = 0, **kw) -> HTTPError:
        """Assert every way of feeding `data` raises HTTPError with one status."""
        errors = {}
        for how, chunks in splits(data, seed):
            with pytest.raises(HTTPError) as info:
                run(self.make(**kw), chunks, eof)
            errors[how] = info.value
        statuses = {how: error.status for how, error in errors.items()}
        assert len(set(statuses.values())) == 1, statuses
        return errors["whole"]


def make_request_parser(limits: Limits | None = None) -> RequestParser:
    return RequestParser(limits)


def make_response_parser(methods: tuple[bytes, ...] = (b"GET",), limits: Limits | None = None) -> ResponseParser:
    parser = ResponseParser(limits)
    for method in methods:
        parser.expect(method)
    return parser


@pytest.fixture
def feed() -> Feeder:
    """Feed a RequestParser every way; `feed(data)` -> events, `feed.rejects(data)`."""
    return Feeder(make_request_parser)


@pytest.fixture
def feed_response() -> Feeder:
    """The same for a ResponseParser; pass `methods=(b"HEAD",)` for what was sent."""
    return Feeder(make_response_parser)


def fire_offset(parser: Parser, data: bytes, status: int | None = None) -> int:
    """Feed one byte at a time; return how many bytes were in when HTTPError fired."""
    for i in range(len(data)):
        parser.receive_data(data[i : i + 1])
        try:
            drain(parser, [])
        except HTTPError as error:
            assert status is None or error.status == status, error
            return i + 1
    raise AssertionError("no error was raised")
