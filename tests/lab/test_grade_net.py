"""Socket-level checks: every common way a response goes wrong is classified, and
each class has a hint; reproductions are one shell line."""
from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from lab.grade import feedback
from lab.grade.checks.net import exchange

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def serve_once(behaviour) -> tuple[int, threading.Thread]:
    """A one-connection server on 127.0.0.1:0 that does `behaviour(conn)`."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def run() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            behaviour(conn)
        srv.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t


def hold(conn: socket.socket) -> None:
    conn.settimeout(2)
    try:
        conn.recv(1)
    except OSError:
        pass


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


CASES = {
    None: lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    "eof_empty": lambda c: None,
    "eof_partial": lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Len"),
    "connection_reset": reset,
    "timeout_empty": hold,
    "timeout_partial": lambda c: (c.sendall(b"HTTP/1.1 200 OK\r\n"), hold(c)),
    "wrong_content_length": lambda c: (c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), hold(c)),
    "missing_final_chunk": lambda c: (c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"), hold(c)),
    "extra_bytes": lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"),
}


@pytest.mark.parametrize("error_class", list(CASES), ids=str)
def test_error_class_is_recognised_and_has_a_hint(error_class):
    port, t = serve_once(CASES[error_class])
    ex = exchange("127.0.0.1", port, REQUEST, timeout=0.6)
    t.join(3)
    assert ex.error_class == error_class, ex
    if error_class:
        assert feedback.hint_for(error_class)


def test_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    ex = exchange("127.0.0.1", port, REQUEST, timeout=0.5)
    assert ex.error_class == "connection_refused" and feedback.hint_for("connection_refused")


def test_complete_chunked_response_is_fine():
    port, t = serve_once(lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
    ex = exchange("127.0.0.1", port, REQUEST, timeout=1)
    t.join(3)
    assert ex.error_class is None and ex.head["status"] == 200


def test_nc_reproduction_replays_the_exact_bytes():
    data = b"GET /%41 HTTP/1.1\r\nX: 'q'\\\r\n\t\x01\r\n"
    line = feedback.nc_reproduction(data, 9)
    assert line.endswith("| nc 127.0.0.1 9")
    printed = subprocess.run(["bash", "-c", line.split(" | ")[0]], capture_output=True).stdout
    assert printed == data


def test_escape_and_caret_column():
    data = b"GET / HTTP/1.1\r\nHost : x\r\n"
    assert feedback.escape(data) == "GET / HTTP/1.1\\r\\nHost : x\\r\\n"
    col = feedback.escaped_offset(data, data.index(b" :"))
    assert feedback.escape(data)[col:col + 2] == " :"
    assert feedback.first_difference("HTTP/1.1 400", "HTTP/1.1 200") == 9
