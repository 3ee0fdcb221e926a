"""Simple uploads (`POST /uploads`, `GET /uploads/{id}`) under every I/O model."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import httpx
import pytest

from tests.lab.patterns_fixtures import (  # noqa: F401  (lab_server is a fixture)
    http,
    lab_server, raw_request, read_response, request_bytes, running_server, wait_until,
)
from lab.patterns.uploads import READ_SIZE, TURN, FileStream
from protocols.http1 import ResponseParser

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)  # several reads, an odd tail
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def uploads_dir(server):
    return server.data_dir / "uploads"


def leftovers(server) -> list[str]:
    return [p.name for p in uploads_dir(server).iterdir() if p.name.endswith(".part")]


def test_curl_content_length_upload_is_201_with_location_size_sha256(lab_server, tmp_path):
    source = tmp_path / "payload.bin"
    source.write_bytes(PAYLOAD)
    out = subprocess.run(
        ["curl", "-sS", "-i", "--data-binary", f"@{source}", lab_server.url("/uploads")],
        capture_output=True, timeout=30, check=True).stdout
    head, _, body = out.rpartition(b"\r\n\r\n")
    assert b"201 Created" in head
    result = json.loads(body)
    assert result["size"] == len(PAYLOAD) and result["sha256"] == DIGEST
    assert f"location: /uploads/{result['id']}".encode() in head.lower()
    got = http.get(lab_server.url(f"/uploads/{result['id']}"), timeout=30)
    assert got.status_code == 200 and got.content == PAYLOAD
    # Streamed from disk: chunked, so no Content-Length (RFC 9112 §6.1).
    assert got.headers["transfer-encoding"] == "chunked" and "content-length" not in got.headers


def test_get_streams_the_file_in_chunks_of_read_size__rfc9112_7_1(lab_server):
    stored = http.post(lab_server.url("/uploads"), content=PAYLOAD).json()["id"]
    with lab_server.connect(30) as sock:
        sock.sendall(request_bytes("GET", f"/uploads/{stored}", {"Connection": "close"}))
        raw = bytearray()
        while data := sock.recv(1 << 20):
            raw += data
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower() and b"content-length" not in head.lower()
    sizes, pos, decoded = [], 0, bytearray()
    while True:
        eol = body.index(b"\r\n", pos)
        size = int(body[pos:eol], 16)
        sizes.append(size)
        if size == 0:
            break
        decoded += body[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
    assert bytes(decoded) == PAYLOAD
    assert sizes[:-2] == [READ_SIZE] * (len(sizes) - 2) and sizes[-1] == 0


def test_head_of_an_upload_has_no_body__rfc9110_9_3_2(lab_server):
    stored = http.post(lab_server.url("/uploads"), content=b"abc").json()["id"]
    with lab_server.connect() as sock:
        sock.sendall(request_bytes("HEAD", f"/uploads/{stored}")
                     + request_bytes("GET", f"/uploads/{stored}"))
        parser = ResponseParser()  # one parser: the second answer may come in the same read
        status, headers, body = read_response(sock, b"HEAD", parser)
        assert status == 200 and body == b"" and headers["transfer-encoding"] == "chunked"
        assert read_response(sock, b"GET", parser)[2] == b"abc"  # the connection goes on


def test_http_1_0_gets_the_bytes_up_to_the_close__rfc9112_6_3(lab_server):
    stored = http.post(lab_server.url("/uploads"), content=PAYLOAD[:100_000]).json()["id"]
    with lab_server.connect() as sock:
        sock.sendall(f"GET /uploads/{stored} HTTP/1.0\r\n\r\n".encode())
        raw = bytearray()
        while data := sock.recv(1 << 20):
            raw += data
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    assert b"chunked" not in head.lower() and body == PAYLOAD[:100_000]


def test_httpx_chunked_upload_is_stored_whole(lab_server):
    def pieces():
        for start in range(0, len(PAYLOAD), 100_000):
            yield PAYLOAD[start:start + 100_000]

    response = http.post(lab_server.url("/uploads"), content=pieces(), timeout=30)
    assert response.status_code == 201
    assert response.json()["sha256"] == DIGEST
    assert response.headers["location"] == f"/uploads/{response.json()['id']}"
    stored = uploads_dir(lab_server) / response.json()["id"]
    assert stored.read_bytes() == PAYLOAD
    assert leftovers(lab_server) == []


def test_curl_chunked_upload(lab_server, tmp_path):
    source = tmp_path / "payload.bin"
    source.write_bytes(PAYLOAD[:200_000])
    out = subprocess.run(
        ["curl", "-sS", "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{source}",
         lab_server.url("/uploads")], capture_output=True, timeout=30, check=True).stdout
    assert json.loads(out)["sha256"] == hashlib.sha256(PAYLOAD[:200_000]).hexdigest()


def test_post_without_a_length_is_411__rfc9110_15_5_12(lab_server):
    status, _, _ = raw_request(lab_server, b"POST /uploads HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 411


def test_content_length_0_is_an_empty_upload(lab_server):
    status, _, body = raw_request(lab_server, request_bytes("POST", "/uploads", body=b""))
    assert status == 201
    assert json.loads(body)["size"] == 0
    assert json.loads(body)["sha256"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("path", ["/uploads/0123", "/uploads/..%2F..%2Fetc%2Fpasswd",
                                  "/uploads/" + "0" * 32])
def test_unknown_or_malformed_id_is_404(lab_server, path):
    status, _, _ = raw_request(lab_server, request_bytes("GET", path))
    assert status == 404


def test_other_methods_are_405_with_allow__rfc9110_15_5_6(lab_server):
    status, headers, _ = raw_request(lab_server, request_bytes("DELETE", "/uploads"))
    assert status == 405 and headers["allow"] == "POST"


def test_client_leaving_mid_body_leaves_no_file(lab_server):
    before = set(os.listdir(uploads_dir(lab_server)))
    with lab_server.connect() as sock:
        sock.sendall(request_bytes("POST", "/uploads", {"Content-Length": "1000000"})
                     + PAYLOAD[:300_000])
        assert wait_until(lambda: leftovers(lab_server), 5)  # the temp file exists...
    assert wait_until(lambda: not leftovers(lab_server), 5)  # ...and is gone
    assert set(os.listdir(uploads_dir(lab_server))) == before


def test_over_max_upload_is_413_and_nothing_half_written(tmp_path):
    with running_server("epoll", tmp_path, "--max-upload", "100000") as server:
        status, _, _ = raw_request(server, request_bytes(
            "POST", "/uploads", {"Content-Length": "100001"}))
        assert status == 413  # refused on the head, before a byte of body

        def too_much():
            yield PAYLOAD[:60_000]
            yield PAYLOAD[60_000:120_000]

        try:  # refused on the chunk that crosses the limit
            response = http.post(server.url("/uploads"), content=too_much(), timeout=10)
        except httpx.TransportError:
            pass  # the server's close raced the client's writes: a reset, not a 413
        else:
            assert response.status_code == 413
        assert os.listdir(server.data_dir / "uploads") == []
        # Within the limit is fine, and a buffered route keeps --max-body, not --max-upload.
        ok = http.post(server.url("/uploads"), content=PAYLOAD[:100_000], timeout=10)
        assert ok.status_code == 201


def test_temp_files_of_a_crashed_server_are_removed_at_start(tmp_path):
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "tmp-abc.part").write_bytes(b"half")
    (tmp_path / "uploads" / ("a" * 32)).write_bytes(b"whole")
    with running_server("epoll", tmp_path) as server:
        assert os.listdir(server.data_dir / "uploads") == ["a" * 32]
        assert http.get(server.url("/uploads/" + "a" * 32)).content == b"whole"


def test_echo_keeps_the_servers_max_body(tmp_path):
    with running_server("epoll", tmp_path, "--max-body", "1000") as server:
        assert http.post(server.url("/echo"), content=b"x" * 1000).status_code == 200
        assert http.post(server.url("/echo"), content=b"x" * 1001).status_code == 413
        assert http.post(server.url("/uploads"), content=b"x" * 5000).status_code == 201


def test_failed_uploads_leave_what_is_stored_untouched(lab_server):
    stored = http.post(lab_server.url("/uploads"), content=b"keep me").json()["id"]
    raw_request(lab_server, b"POST /uploads HTTP/1.1\r\nHost: x\r\n\r\n")  # 411
    raw_request(lab_server, request_bytes("POST", "/uploads", {"Content-Length": str(1 << 40)}))
    with lab_server.connect() as sock:  # dropped mid-body
        sock.sendall(request_bytes("POST", "/uploads", {"Content-Length": "100"}) + b"half")
    assert wait_until(lambda: not leftovers(lab_server), 5)
    assert http.get(lab_server.url(f"/uploads/{stored}")).content == b"keep me"


def test_a_download_hands_over_at_most_one_turn_then_asks_to_be_ticked(tmp_path):
    """The Connection pulls until b"": an always-ready file must end its turn itself."""
    path = tmp_path / "big"
    path.write_bytes(os.urandom(3 * TURN))
    stream = FileStream(open(path, "rb"))
    turns, turn = [], bytearray()
    while (data := stream.pull()) is not None:
        if data:
            turn += data
            continue
        assert stream.deadline is not None and stream.deadline <= time.monotonic()
        turns.append(len(turn))
        turn.clear()
    assert turns == [TURN, TURN, TURN] and turn == b"" and stream.file.closed
