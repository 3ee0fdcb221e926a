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
    limit = raise_fd_limit()
    assert limit >= 1100, f"open-files limit {limit} is below the 1,100 this test needs"
    result = run(server, kind, 1000)
    assert result.errors == [] and result.complete, result
    assert result.delivered == 1000 * 100


@pytest.mark.parametrize("kind", ["sse", "ws"])
def test_benchmark_legs_report_requests_bytes_and_latency(server, kind):
    """The functions `lab bench` calls: sane figures from a short run."""
    from lab.clients.push_bench import push_leg, run_fanout

    leg = asyncio.run(push_leg(server.host, server.port, kind=kind, messages=20, size=64,
                               interval=0))
    row = leg.as_dict()
    assert row["requests"] == 1 and row["delivered"] == 20 and len(leg.latencies) == 20
    assert 64 < row["bytes_per_message"] < 200  # the payload plus framing (+ the handshake / 20)
    assert 0 < row["latency_p50_ms"] <= row["latency_p99_ms"] < 1000
    fan = run_fanout(server.address, kind=kind, subscribers=20, messages=20, verify=False)
    assert fan.complete and fan.delivered == 400 and fan.events_per_second > 0


def test_benchmark_cli_prints_one_json_line(server):
    import json
    import os
    import subprocess
    import sys

    from tests.lab.push_fixtures import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for argv in (["fanout", "--kind", "ws", "--subscribers", "10", "--messages", "10"],
                 ["sse", "--messages", "5", "--interval", "0"]):
        out = subprocess.run([sys.executable, "-m", "lab.clients.push_bench", *argv,
                              "--port", str(server.port)], cwd=ROOT, env=env, timeout=60,
                             capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        assert row.get("complete", True) and row.get("delivered") in (100, 5), row
