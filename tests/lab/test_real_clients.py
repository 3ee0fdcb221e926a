"""Real clients written by others, against all six I/O models.

Our raw-socket client checks bytes; these check that the clients people actually use
agree with the server: curl (a subprocess), `http.client`, httpx and h11 (test-only
dependencies). Each is strict in its own way: h11 refuses a malformed response, curl
reports what it re-used and what it waited for, httpx pools connections.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import subprocess

import h11
import httpx
import pytest

from tests.skips import require

CURL_TIMEOUT = 10


def body_of(data: bytes) -> bytes:
    return base64.b64decode(json.loads(data)["body_base64"])


# -- curl ------------------------------------------------------------------------------------
def curl(*args: str) -> subprocess.CompletedProcess:
    require(shutil.which("curl") is not None, "curl is not installed")
    done = subprocess.run(["curl", "-sS", "--max-time", str(CURL_TIMEOUT), *args],
                          capture_output=True, timeout=CURL_TIMEOUT + 5)
    assert done.returncode == 0, (done.returncode, done.stderr.decode(errors="replace"))
    return done


def url(server, path: str = "/") -> str:
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"http://{host}:{server.port}{path}"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_curl_verbose_get(model, serve):
    server = serve("hello")
    done = curl("-v", url(server))
    assert done.stdout == b"Hello, World!"
    err = done.stderr.decode()
    assert "< HTTP/1.1 200 OK" in err
    assert "< Content-Length: 13" in err and "< Content-Type: text/plain" in err


def test_curl_reuses_the_connection_for_a_second_url(model, serve):
    server = serve("hello")
    done = curl("-v", url(server, "/1"), url(server, "/2"))
    assert done.stdout == b"Hello, World!" * 2
    assert "Re-using existing connection" in done.stderr.decode()


def test_curl_over_ipv6(model, fresh_server):
    if not _ipv6_loopback():  # a property of the host, not a tool CI installs: skip
        pytest.skip("no IPv6 loopback (::1) on this machine")
    server = fresh_server(model, "echo", "--host", "::1")
    done = curl("-g", url(server, "/six"))
    echo = json.loads(done.stdout)
    assert echo["target"] == "/six" and ["Host", f"[::1]:{server.port}"] in echo["headers"]


def test_curl_post_form_data(model, serve):
    server = serve("echo")
    done = curl("-d", "name=lab&x=1", url(server, "/form"))
    echo = json.loads(done.stdout)
    assert echo["method"] == "POST" and body_of(done.stdout) == b"name=lab&x=1"
    assert ["Content-Type", "application/x-www-form-urlencoded"] in echo["headers"]


def test_curl_chunked_upload_from_a_file(model, serve, tmp_path):
    server = serve("echo")
    payload = os.urandom(200_000)
    path = tmp_path / "payload.bin"
    path.write_bytes(payload)
    done = curl("-H", "Transfer-Encoding: chunked", "--data-binary", f"@{path}", url(server, "/up"))
    echo = json.loads(done.stdout)
    assert ["Transfer-Encoding", "chunked"] in echo["headers"]
    assert body_of(done.stdout) == payload


def test_curl_head(model, serve):
    server = serve("hello")
    done = curl("-I", url(server))
    head = done.stdout.decode()
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    assert "Content-Length: 13\r\n" in head and head.endswith("\r\n\r\n")


def test_curl_http10(model, serve):
    server = serve("echo")
    done = curl("-v", "-0", url(server, "/old"))
    assert json.loads(done.stdout)["version"] == "HTTP/1.0"
    assert "< Connection: close" in done.stderr.decode()


def test_curl_expect_100_continue_on_a_large_post(model, serve, tmp_path):
    # curl waits up to --expect100-timeout for the 100, then sends the body anyway and
    # says "Done waiting for 100-continue": that line must not appear.
    server = serve("echo")
    payload = os.urandom(2_000_000)
    path = tmp_path / "big.bin"
    path.write_bytes(payload)
    done = curl("-v", "-H", "Expect: 100-continue", "--expect100-timeout", "5",
                "--data-binary", f"@{path}", url(server, "/big"))
    err = done.stderr.decode()
    assert "< HTTP/1.1 100 Continue" in err
    assert "Done waiting for 100-continue" not in err
    assert body_of(done.stdout) == payload


# -- http.client -----------------------------------------------------------------------------
def test_http_client_reuses_one_keep_alive_connection(model, serve):
    server = serve("echo")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        socks = []
        for i in range(4):
            conn.request("POST", f"/k/{i}", body=b"b" * i)
            response = conn.getresponse()
            data = response.read()
            assert response.status == 200 and not response.will_close
            assert body_of(data) == b"b" * i
            socks.append(conn.sock)
        assert all(s is socks[0] and s is not None for s in socks), "a new connection was made"
    finally:
        conn.close()


def test_http_client_chunked_upload(model, serve):
    server = serve("echo")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("PUT", "/chunks", body=iter([b"one,", b"two,", b"three"]),
                     headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200
        assert body_of(data) == b"one,two,three"
        conn.request("GET", "/after")  # still in step
        assert json.loads(conn.getresponse().read())["target"] == "/after"
    finally:
        conn.close()


def test_http_client_head_then_get(model, serve):
    server = serve("hello")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        conn.request("HEAD", "/")
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Length") == "13"
        assert response.read() == b""
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"Hello, World!"
    finally:
        conn.close()


# -- httpx -----------------------------------------------------------------------------------
def _client_addr(response: httpx.Response):
    return response.extensions["network_stream"].get_extra_info("client_addr")


def test_httpx_keep_alive_pool_reuses_the_connection(model, serve):
    server = serve("echo")
    with httpx.Client(base_url=url(server), timeout=5) as client:
        responses = [client.get(f"/pool/{i}", params={"q": str(i)}) for i in range(5)]
        for i, response in enumerate(responses):
            assert response.status_code == 200
            assert response.json()["target"] == f"/pool/{i}?q={i}"
        assert len({_client_addr(r) for r in responses}) == 1, "the pool opened new connections"


def test_httpx_streamed_upload(model, serve):
    server = serve("echo")
    parts = [os.urandom(10_000) for _ in range(7)]

    def stream():
        yield from parts

    with httpx.Client(base_url=url(server), timeout=5) as client:
        response = client.post("/stream", content=stream())
        assert response.status_code == 200
        assert ["Transfer-Encoding", "chunked"] in response.json()["headers"]
        assert body_of(response.content) == b"".join(parts)


def test_httpx_sees_405_and_404_on_the_lab_app(model, serve):
    server = serve("lab")
    with httpx.Client(base_url=url(server), timeout=5) as client:
        assert client.get("/").status_code == 200
        response = client.delete("/")
        assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
        assert client.get("/missing").status_code == 404
        assert client.post("/echo", content=b"x").status_code == 200


# -- h11 driving a raw socket ------------------------------------------------------------------
def _h11_cycle(sock: socket.socket, conn: h11.Connection, request: h11.Request,
               body: list[bytes]) -> tuple[list, bytes]:
    out = conn.send(request)
    for part in body:
        out += conn.send(h11.Data(data=part))
    out += conn.send(h11.EndOfMessage())
    sock.sendall(out)
    events, data = [], []
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
            continue
        events.append(event)
        if isinstance(event, h11.Data):
            data.append(event.data)
        if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return events, b"".join(data)


def test_h11_client_over_several_keep_alive_cycles(model, serve):
    server = serve("echo")
    sock = socket.create_connection(server.address, timeout=5)
    conn = h11.Connection(our_role=h11.CLIENT)
    host = ("Host", f"{server.host}:{server.port}")
    try:
        cases = [
            (h11.Request(method="GET", target="/h11/0", headers=[host]), []),
            (h11.Request(method="POST", target="/h11/1", headers=[host, ("Content-Length", "5")]),
             [b"hello"]),
            (h11.Request(method="POST", target="/h11/2", headers=[host, ("Transfer-Encoding", "chunked")]),
             [b"chunk", b"ed"]),
            (h11.Request(method="HEAD", target="/h11/3", headers=[host]), []),
            (h11.Request(method="PUT", target="/h11/4",
                         headers=[host, ("Content-Length", "3"), ("Expect", "100-continue")]), [b"abc"]),
        ]
        for request, body in cases:
            events, data = _h11_cycle(sock, conn, request, body)
            finals = [e for e in events if isinstance(e, h11.Response)]
            assert len(finals) == 1 and finals[0].status_code == 200, events
            if request.method == b"HEAD":
                assert data == b""
            else:
                echo = json.loads(data)
                assert echo["target"] == request.target.decode()
                assert body_of(data) == b"".join(body)
            assert conn.our_state is h11.DONE and conn.their_state is h11.DONE
            conn.start_next_cycle()
    finally:
        sock.close()


def test_h11_client_sees_connection_close_honoured(model, serve):
    server = serve("hello")
    sock = socket.create_connection(server.address, timeout=5)
    conn = h11.Connection(our_role=h11.CLIENT)
    try:
        request = h11.Request(method="GET", target="/", headers=[("Host", "x"), ("Connection", "close")])
        events, data = _h11_cycle(sock, conn, request, [])
        assert data == b"Hello, World!"
        assert conn.their_state is h11.MUST_CLOSE
        assert sock.recv(1) == b""  # the server closed
    finally:
        sock.close()
