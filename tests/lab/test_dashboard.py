"""The dashboard at `GET /`, run by headless Chromium: one publish reaches the page by
short polling, long polling, SSE and WebSocket, and the echo pane shows the exchange."""
from __future__ import annotations

import json
import time

import pytest

from tests.lab.push_fixtures import CHROMIUM, chromium, push_server
from tests.skips import require

pytestmark = pytest.mark.browser


def _wait_for(browser, expression: str, timeout: float = 15.0):
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        value = browser.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    return browser.evaluate(expression)


def test_dashboard_delivers_one_message_four_ways_and_echoes():
    require(CHROMIUM is not None, "Chromium is not installed (apt-get install chromium)")
    with push_server("epoll") as server, chromium() as browser:
        browser.open(server.url("/"))
        assert _wait_for(browser, "document.readyState === 'complete'")
        browser.evaluate("document.getElementById('start-all').click()")
        # the SSE and WebSocket clients are connected once their first bytes arrived
        assert _wait_for(browser, "document.getElementById('sse-log').textContent.includes('retry')")
        browser.evaluate("document.getElementById('pub-text').value = 'over the wire'")
        browser.evaluate("document.getElementById('pub-go').click()")
        panes = ["sp", "lp", "sse", "ws"]
        logs = json.loads(_wait_for(browser, (
            "(() => { const logs = %s.map(k => document.getElementById(k + '-log').textContent);"
            " return logs.every(t => t.includes('over the wire')) ? JSON.stringify(logs) : ''; })()"
        ) % json.dumps(panes), timeout=20))
        assert "#1 over the wire" in logs[0] and "#1 over the wire" in logs[1]
        assert "id: 1" in logs[2] and "data: over the wire" in logs[2]
        assert '{"offset":1,"data":"over the wire"}' in logs[3]
        browser.evaluate("document.getElementById('rr-go').click()")
        echoed = _wait_for(browser, "document.getElementById('rr-recv').textContent")
        assert echoed.startswith("HTTP/1.1 200 OK")
        assert '"target":"/echo/hello?x=1"' in echoed
