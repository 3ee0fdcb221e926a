"""Simple uploads (`POST /uploads`, `GET /uploads/{id}`) under every I/O model."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

import httpx
import pytest

from tests.lab.patterns_fixtures import (  # noqa: F401  (lab_server is a fixture)
    http,
    lab_server, raw_request, request_bytes, running_server, wait_until,
)

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
