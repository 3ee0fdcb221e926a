"""Servers and a headless Chromium as subprocesses, for the push tests.

    with push_server("epoll", "--sse-heartbeat", "0.2") as server:   # lab serve --port 0
        server.address                                                # ("127.0.0.1", port)
    with push_server("epoll", module="tests.lab.push_app") as server: # + test-only routes
    with chromium() as browser:                                       # DevTools over WS
        browser.open(server.url("/fixture/page"))
        browser.evaluate("1 + 1")                                     # -> 2

Servers run `python -m lab serve --app lab --io MODEL --port 0` (or a test app module
with the same CLI face) with the repository root as cwd and PYTHONPATH and a fresh
`--data-dir` (removed at stop); the listening line is read with a timeout; each is
stopped with SIGTERM to its own PID, then SIGKILL. Chromium runs in its own process
group with a fresh profile; it is killed by that group's id at teardown.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from tests.lab.servers import (  # noqa: F401  (re-exported for the push tests)
    EVENT_LOOP_MODELS, IO_MODELS, ROOT, Server, raise_fd_limit, running_server, wait_until,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def push_server(io: str, *args: str, module: str = "lab") -> Iterator[Server]:
    with running_server(io, *args, module=module) as server:
        yield server


# -- headless Chromium over the DevTools protocol ----------------------------------------

class Browser:
    """One page of a headless Chromium, driven with Runtime.evaluate."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws  # a websockets ClientConnection to the page's DevTools endpoint
        self._id = 0

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        give_up = time.monotonic() + timeout
        while True:
            left = give_up - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"DevTools {method} did not answer in {timeout} s")
            reply = json.loads(self.ws.recv(timeout=left))
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"DevTools {method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        give_up = time.monotonic() + 15
        while self.evaluate("document.readyState + ' ' + location.href") != f"complete {url}":
            if time.monotonic() > give_up:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The value of a JS expression; a promise is awaited."""
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"JS threw: {text}")
        return result["result"].get("value")


def _page_url(port: int, timeout: float = 15.0) -> str:
    """The DevTools WebSocket URL of the browser's first page."""
    give_up = time.monotonic() + timeout
    while True:  # the port file can appear a moment before the page target exists
        try:
            targets = json.loads(_http_get(("127.0.0.1", port), "/json/list"))
            return next(t for t in targets if t.get("type") == "page")["webSocketDebuggerUrl"]
        except (OSError, StopIteration, ValueError):
            if time.monotonic() > give_up:
                raise
            time.sleep(0.1)


def _http_get(address: tuple[str, int], path: str) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        # Chromium builds webSocketDebuggerUrl from our Host: it must carry the port.
        host = f"{address[0]}:{address[1]}"
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        while len(body) < length:  # Chromium keeps the connection open: read by length
            body += sock.recv(65536)
    return body


@contextmanager
def chromium(timeout: float = 30.0) -> Iterator[Browser]:
    assert CHROMIUM is not None
    profile = Path(tempfile.mkdtemp(prefix="push-chromium-"))
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--no-first-run",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own process group: killed whole
    try:
        port_file = profile / "DevToolsActivePort"
        give_up = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > give_up:
                raise RuntimeError("Chromium did not write DevToolsActivePort")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        from websockets.sync.client import connect

        with connect(_page_url(port), max_size=None, open_timeout=10, proxy=None) as ws:
            yield Browser(ws)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
