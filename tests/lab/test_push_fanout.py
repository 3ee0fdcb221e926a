"""1,000 SSE and 1,000 WebSocket subscribers on the event-loop models each receive every
one of 100 published messages, in order, none lost, none twice.

The subscribers are raw asyncio sockets on one loop in the test process
(`lab.clients.push_bench.fanout`, `verify=True`: every event parsed by the spec's parser,
or every frame by the WebSocket core, and checked against its offset and data). The
messages are published as fast as the server reads them (pipelined POSTs).
"""
from __future__ import annotations

import asyncio

import pytest

from lab.clients.push_bench import fanout
from tests.lab.push_fixtures import EVENT_LOOP_MODELS, push_server, raise_fd_limit

pytestmark = pytest.mark.timeout(180)


def run(server, kind: str, subscribers: int, messages: int = 100):
    return asyncio.run(fanout(server.host, server.port, kind=kind, subscribers=subscribers,
                              messages=messages, size=64, verify=True, timeout=90))


@pytest.fixture(scope="module", params=EVENT_LOOP_MODELS)
def server(request):
    with push_server(request.param) as server:
        yield server


@pytest.mark.parametrize("kind", ["sse", "ws"])
def test_100_subscribers_each_get_every_message_in_order(server, kind):
    result = run(server, kind, 100)
    assert result.errors == [] and result.complete, result
    assert result.delivered == 100 * 100


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sse", "ws"])
def test_1000_subscribers_each_get_every_message_in_order(server, kind):
    limit = raise_fd_limit(1100)
    assert limit >= 1100, f"open-files limit {limit} is below the 1,100 this test needs"
    result = run(server, kind, 1000)
    assert result.errors == [] and result.complete, result
    assert result.delivered == 1000 * 100
