"""SSE and WebSocket judged by headless Chromium (FACTS.md: it follows the SSE spec
exactly): EventSource's data/type/lastEventId, its reconnect with Last-Event-ID, and a
WebSocket that sends, receives and closes with 1000."""
from __future__ import annotations

import json

import pytest

from protocols.sse import EventStreamParser
from lab.clients.push import publish
from tests.lab.push_app import FIXTURE, fixture_stream_bytes
from tests.lab.push_fixtures import CHROMIUM, chromium, push_server
from tests.skips import require

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM is not None, "headless Chromium is not installed (apt-get install chromium)")
    with chromium() as browser:
        yield browser


COLLECT_FIXTURE = """
new Promise((resolve) => {
  const types = %s, want = %d, got = [];
  const es = new EventSource("/fixture/events");
  const done = () => { es.close(); resolve(got); };
  for (const type of types) es.addEventListener(type, (e) => {
    got.push({type: e.type, data: e.data, lastEventId: e.lastEventId});
    if (got.length === want) done();
  });
  setTimeout(done, 10000);
})
"""


def test_eventsource_gets_exact_data_type_and_last_event_id(browser):
    expected = [{"type": t, "data": d.replace("\r\n", "\n").replace("\r", "\n"), "lastEventId": i}
                for t, d, _, i in FIXTURE]
    # Our own parser agrees with what Chromium must see (the spec's algorithm).
    parsed = EventStreamParser().receive_data(fixture_stream_bytes())
    assert [{"type": e.type, "data": e.data, "lastEventId": e.last_event_id} for e in parsed] == expected
    with push_server("epoll", module="tests.lab.push_app") as server:
        browser.open(server.url("/fixture/page"))
        types = sorted({t for t, *_ in FIXTURE})
        got = browser.evaluate(COLLECT_FIXTURE % (json.dumps(types), len(FIXTURE)))
    assert got == expected


RECONNECT = """
new Promise((resolve) => {
  const got = []; let opens = 0;
  const es = new EventSource("/topics/%(topic)s/events");
  es.onopen = () => { opens += 1; };
  es.onmessage = async (e) => {
    got.push([e.lastEventId, e.data]);
    if (got.length === 3) {
      // The server ends the stream; while the browser waits `retry` ms, two more come.
      const r = await fetch("/fixture/drop/%(topic)s", {method: "POST"});
      const dropped = (await r.json()).dropped;
      got.push(["dropped", String(dropped)]);
      await fetch("/topics/%(topic)s", {method: "POST", body: "m4"});
      await fetch("/topics/%(topic)s", {method: "POST", body: "m5"});
    }
    if (got.length === 6) { es.close(); resolve({got, opens}); }
  };
  setTimeout(() => { es.close(); resolve({got, opens, timeout: true}); }, 15000);
})
"""


@pytest.mark.parametrize("io", ["epoll", "threads"])
def test_eventsource_resumes_with_last_event_id_without_gap_or_duplicate(browser, io):
    with push_server(io, module="tests.lab.push_app") as server:
        for i in (1, 2, 3):
            publish(server.address, "resume", b"m%d" % i)
        browser.open(server.url("/fixture/page"))
        result = browser.evaluate(RECONNECT % {"topic": "resume"}, timeout=30)
    assert result == {
        "got": [["1", "m1"], ["2", "m2"], ["3", "m3"], ["dropped", "1"], ["4", "m4"], ["5", "m5"]],
        "opens": 2,
    }


WEBSOCKET = """
new Promise((resolve) => {
  const ws = new WebSocket(`ws://${location.host}/topics/%(topic)s/ws`);
  const sent = ["hello from chromium", "h\\u00e9llo \\ud83c\\udf89", "x".repeat(70000)];
  const got = [];
  ws.onopen = () => { for (const text of sent) ws.send(text); };
  ws.onmessage = (e) => {
    got.push(JSON.parse(e.data));
    if (got.length === sent.length) ws.close(1000, "bye");
  };
  ws.onclose = (e) => resolve({got: got.map(m => [m.offset, m.data.length, m.data.slice(0, 20)]),
                               code: e.code, reason: e.reason, wasClean: e.wasClean});
  setTimeout(() => resolve({got, timeout: true}), 10000);
})
"""


@pytest.mark.parametrize("io", ["epoll", "uvloop", "threads"])
def test_websocket_sends_receives_and_closes_1000(browser, io):
    with push_server(io, module="tests.lab.push_app") as server:
        browser.open(server.url("/fixture/page"))
        result = browser.evaluate(WEBSOCKET % {"topic": "chat"}, timeout=30)
    assert result == {
        # JS counts UTF-16 units: the emoji is 2. The server echoes the code, not the
        # reason (RFC 6455 §5.5.1: it "typically echos the status code it received").
        "got": [[1, 19, "hello from chromium"], [2, 8, "héllo 🎉"], [3, 70000, "x" * 20]],
        "code": 1000, "reason": "", "wasClean": True,
    }
