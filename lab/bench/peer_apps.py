"""Hello-world servers written with the libraries people use instead of the lab.

`python -m lab.bench.peer_apps NAME --host 127.0.0.1 --port 0` binds the socket itself
(port 0 = a free port), prints the same `listening on http://HOST:PORT (io=NAME,
app=hello)` line as `lab serve`, then hands the socket to the library. The kernel
queues connections from `listen()` on, so the line is honest before the library's loop
runs; the harness also sends one GET before measuring.

Each answers every request with `200 OK`, `text/plain`, `Hello, World!`: the `hello`
app's contract, written the way each library's documentation writes it.

The `naive-*` servers are not HTTP servers: they count the CRLFCRLFs that end request
heads and write one canned answer for each, parsing nothing. They show what a Python
event loop costs before any HTTP is done, the floor under every Python server here (the
issue's "minimal servers with a naive parser"). The `callbacks-*` servers run the lab's
own HTTP core on `asyncio.Protocol` callbacks instead of streams, with none of a lab
model's timeouts or backpressure: what the streams cost the lab's `asyncio` and `uvloop`.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys

BODY = b"Hello, World!"


async def asgi_hello(scope, receive, send) -> None:  # the ASGI spec's hello world
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")]})
    await send({"type": "http.response.body", "body": BODY})


def run_uvicorn(sock: socket.socket, http: str) -> None:
    import uvicorn

    # httptools + uvloop is uvicorn's fast path ("uvicorn[standard]"); h11 is its pure-Python one.
    loop = "uvloop" if http == "httptools" else "asyncio"
    config = uvicorn.Config(asgi_hello, http=http, loop=loop, lifespan="off",
                            access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


def run_aiohttp(sock: socket.socket) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


def run_stdlib(sock: socket.socket, nodelay: bool) -> None:
    """ThreadingHTTPServer as shipped (Nagle on: two writes per response), or with TCP_NODELAY."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hello(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the default, HTTP/1.0, closes after every response
        disable_nagle_algorithm = nodelay

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(sock.getsockname()[:2], Hello, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


NAIVE_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n" + BODY


def _answers(pending: bytes, data: bytes) -> tuple[bytes, bytes]:
    """(what to send back, what is left unanswered): one canned answer per head end."""
    pending += data
    heads = pending.count(b"\r\n\r\n")
    if not heads:
        return b"", pending
    return NAIVE_ANSWER * heads, pending[pending.rfind(b"\r\n\r\n") + 4:]


def run_naive_selectors(sock: socket.socket) -> None:
    import selectors

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    pending: dict[socket.socket, bytes] = {}
    while True:
        for key, _ in sel.select():
            if key.fileobj is sock:
                conn, _ = sock.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ)
                pending[conn] = b""
                continue
            conn = key.fileobj
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(conn)
                conn.close()
                del pending[conn]
                continue
            out, pending[conn] = _answers(pending[conn], data)
            if out:
                conn.send(out)  # a few hundred bytes: the send buffer takes them


def run_naive_streams(sock: socket.socket, uv: bool) -> None:
    import asyncio

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = b""
        try:
            while data := await reader.read(65536):
                out, pending = _answers(pending, data)
                if out:
                    writer.write(out)
        except ConnectionError:
            pass
        writer.close()

    _run_loop(lambda: asyncio.start_server(serve, sock=sock), uv)


def run_callbacks(sock: socket.socket, uv: bool) -> None:
    """The lab's own HTTP core (`lab.connection.Connection`: parser, app and writer) driven
    by `asyncio.Protocol` callbacks instead of streams: `data_received` hands the bytes to
    `receive_data` and writes what it returns. Not a lab model (no timeouts, no
    backpressure, no wake-ups): what a callback adapter of the same core would reach,
    next to the streams one."""
    import asyncio

    from lab.apps.hello import hello
    from lab.config import ServerConfig
    from lab.connection import Connection

    config = ServerConfig()

    class Callbacks(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            self.transport = transport
            self.conn = Connection(hello, config, lambda: None)

        def data_received(self, data: bytes) -> None:
            self.transport.write(self.conn.receive_data(data))
            if self.conn.closing:
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self.conn.connection_lost()

    _run_loop(lambda: asyncio.get_running_loop().create_server(Callbacks, sock=sock), uv)


def _run_loop(start, uv: bool) -> None:
    """Run the server `await start()` gives until SIGTERM (or Ctrl-C), then return: the
    signal is taken by the loop, not raised as SystemExit inside whatever callback it
    lands in (uvloop prints that as an error and the process does not end cleanly)."""
    import asyncio

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with await start():
            await stop.wait()

    loop_factory = None
    if uv:
        import uvloop
        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main())
    except KeyboardInterrupt:
        pass


RUNNERS = {
    "uvicorn-httptools": lambda s: run_uvicorn(s, "httptools"),
    "uvicorn-h11": lambda s: run_uvicorn(s, "h11"),
    "aiohttp": run_aiohttp,
    "stdlib-threading": lambda s: run_stdlib(s, nodelay=False),
    "stdlib-threading-nodelay": lambda s: run_stdlib(s, nodelay=True),
    "naive-selectors": run_naive_selectors,
    "naive-streams-asyncio": lambda s: run_naive_streams(s, uv=False),
    "naive-streams-uvloop": lambda s: run_naive_streams(s, uv=True),
    "callbacks-asyncio": lambda s: run_callbacks(s, uv=False),
    "callbacks-uvloop": lambda s: run_callbacks(s, uv=True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.peer_apps")
    parser.add_argument("name", choices=sorted(RUNNERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(1024)
    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port} (io={args.name}, app=hello)", flush=True)
    RUNNERS[args.name](sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
