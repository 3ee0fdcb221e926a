"""Resumable uploads: tus 1.0.0 core + creation at /files/, driven by tuspy and by hand."""
from __future__ import annotations

import hashlib
import os
import signal

import httpx
import pytest
from tusclient import client as tus_client

from tests.lab.patterns_fixtures import (  # noqa: F401  (lab_server is a fixture)
    http,
    lab_server, raw_request, read_response, request_bytes, running_server, start_server,
    wait_until,
)

SIZE = 4 * 1024 * 1024 + 123
CHUNK = 512 * 1024
PAYLOAD = os.urandom(SIZE)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def payload_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tus") / "payload.bin"
    path.write_bytes(PAYLOAD)
    return path


def create(server, length: int = SIZE) -> str:
    response = http.post(server.url("/files/"), headers={**TUS, "Upload-Length": str(length)})
    assert response.status_code == 201, response.text
    assert response.headers["tus-resumable"] == "1.0.0"
    return response.headers["location"]


def offset(server, location: str) -> int:
    response = http.head(server.url(location), headers=TUS)
    assert response.status_code == 200
    return int(response.headers["upload-offset"])


def patch(server, location: str, at: int, data: bytes, **headers: str) -> httpx.Response:
    fields = {**TUS, "Upload-Offset": str(at),
              "Content-Type": "application/offset+octet-stream", **headers}
    return http.patch(server.url(location), headers=fields, content=data)


def downloaded_digest(server, location: str) -> str:
    response = http.get(server.url(location), timeout=30)
    assert response.status_code == 200
    return hashlib.sha256(response.content).hexdigest()


def test_tuspy_uploads_in_chunks_and_the_sha256_matches(lab_server, payload_file):
    uploader = tus_client.TusClient(lab_server.url("/files/")).uploader(
        str(payload_file), chunk_size=CHUNK, metadata={"filename": "payload.bin"})
    uploader.upload()
    location = uploader.url.removeprefix(lab_server.base)
    assert offset(lab_server, location) == SIZE
    assert downloaded_digest(lab_server, location) == DIGEST
    head = http.head(uploader.url, headers=TUS).headers
    assert head["upload-length"] == str(SIZE)
    assert head["cache-control"] == "no-store"
    assert "filename " in head["upload-metadata"]


def test_options_advertises_version_extensions_and_max_size(lab_server):
    response = http.options(lab_server.url("/files/"))
    assert response.status_code == 204
    assert response.headers["tus-version"] == "1.0.0"
    assert response.headers["tus-resumable"] == "1.0.0"
    assert "creation" in response.headers["tus-extension"]
    assert int(response.headers["tus-max-size"]) > 0


@pytest.mark.parametrize("value", [None, "0.2.2"])
def test_missing_or_unsupported_tus_resumable_is_412_with_tus_version(lab_server, value):
    headers = {} if value is None else {"Tus-Resumable": value}
    post = http.post(lab_server.url("/files/"), headers={**headers, "Upload-Length": "5"})
    assert post.status_code == 412 and post.headers["tus-version"] == "1.0.0"
    location = create(lab_server, 5)
    head = http.head(lab_server.url(location), headers=headers)
    assert head.status_code == 412
    fields = {**headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert http.patch(lab_server.url(location), headers=fields, content=b"abc").status_code == 412
    assert offset(lab_server, location) == 0


def test_patch_with_another_content_type_is_415(lab_server):
    location = create(lab_server, 5)
    response = patch(lab_server, location, 0, b"abc", **{"Content-Type": "application/octet-stream"})
    assert response.status_code == 415
    assert offset(lab_server, location) == 0


def test_get_is_409_until_complete_then_streams_the_bytes(lab_server):
    location = create(lab_server, 10)
    assert patch(lab_server, location, 0, b"01234").status_code == 204
    early = http.get(lab_server.url(location))
    assert early.status_code == 409 and b"5 of 10" in early.content
    assert patch(lab_server, location, 5, b"56789").status_code == 204
    done = http.get(lab_server.url(location))
    assert done.status_code == 200 and done.content == b"0123456789"
    assert done.headers["transfer-encoding"] == "chunked"  # streamed, not read whole


def test_offset_mismatch_is_409_and_changes_nothing(lab_server):
    location = create(lab_server, 10)
    assert patch(lab_server, location, 0, b"01234").headers["upload-offset"] == "5"
    response = patch(lab_server, location, 3, b"34567")
    assert response.status_code == 409
    assert offset(lab_server, location) == 5
    done = patch(lab_server, location, 5, b"56789")
    assert done.status_code == 204 and done.headers["upload-offset"] == "10"
    assert http.get(lab_server.url(location)).content == b"0123456789"


@pytest.mark.parametrize("path", ["/files/" + "0" * 32, "/files/abc", "/files/..%2F..%2Fetc%2Fpasswd",
                                  "/files/%2e%2e"])
def test_unknown_or_malformed_id_is_404(lab_server, path):
    assert http.head(lab_server.url(path), headers=TUS).status_code == 404
    response = http.patch(lab_server.url(path), content=b"x", headers={
        **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert response.status_code == 404


def test_patch_past_upload_length_is_413_and_keeps_what_fit(lab_server):
    location = create(lab_server, 4)
    assert patch(lab_server, location, 0, b"abcdef").status_code == 413
    assert offset(lab_server, location) == 0  # refused on Content-Length, nothing written


def test_bad_creation_requests_are_400(lab_server):
    assert http.post(lab_server.url("/files/"), headers=TUS).status_code == 400
    bad = http.post(lab_server.url("/files/"), headers={**TUS, "Upload-Length": "-1"})
    assert bad.status_code == 400
    with_body = http.post(lab_server.url("/files/"), headers={**TUS, "Upload-Length": "3"},
                           content=b"abc")
    assert with_body.status_code == 400  # creation-with-upload is not offered


def test_delete_is_405_with_allow(lab_server):
    response = http.delete(lab_server.url(create(lab_server, 1)), headers=TUS)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PATCH"


def test_upload_length_past_max_size_is_413(tmp_path):
    with running_server("epoll", tmp_path, "--max-upload", "1000") as server:
        assert http.options(server.url("/files/")).headers["tus-max-size"] == "1000"
        too_big = http.post(server.url("/files/"), headers={**TUS, "Upload-Length": "1001"})
        assert too_big.status_code == 413
        assert create(server, 1000)


def send_half_a_patch(server, location: str, at: int, chunk: bytes) -> None:
    """A PATCH announcing `chunk` whose connection dies after half of it."""
    half = len(chunk) // 2
    with server.connect() as sock:
        sock.sendall(request_bytes("PATCH", location, {
            **TUS, "Upload-Offset": str(at), "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(len(chunk))}) + chunk[:half])
        if server.io != "blocking":  # there, a HEAD would wait for this very connection
            assert wait_until(lambda: offset(server, location) == at + half, 5)


@pytest.mark.parametrize("io", ["threads", "epoll", "asyncio"])
def test_connection_killed_mid_chunk_keeps_what_arrived_and_tuspy_resumes(io, tmp_path,
                                                                         payload_file):
    with running_server(io, tmp_path) as server:
        location = create(server)
        assert patch(server, location, 0, PAYLOAD[:CHUNK]).status_code == 204
        send_half_a_patch(server, location, CHUNK, PAYLOAD[CHUNK:2 * CHUNK])
        resumed_at = offset(server, location)
        assert resumed_at == CHUNK + CHUNK // 2  # every byte that arrived was kept
        # Until the server has seen the dropped connection the upload stays locked (423);
        # tus clients retry on it, as tuspy does here (under load that takes a moment).
        uploader = tus_client.TusClient(server.url("/files/")).uploader(
            str(payload_file), chunk_size=CHUNK, url=server.url(location),
            retries=3, retry_delay=1)
        assert uploader.offset == resumed_at  # tuspy asked HEAD
        uploader.upload()
        assert downloaded_digest(server, location) == DIGEST


def test_blocking_model_also_keeps_the_bytes_of_a_dropped_patch(tmp_path):
    with running_server("blocking", tmp_path) as server:
        location = create(server)
        send_half_a_patch(server, location, 0, PAYLOAD[:CHUNK])
        assert offset(server, location) == CHUNK // 2


def test_server_restarted_mid_upload_resumes_from_disk(tmp_path, payload_file):
    server = start_server("epoll", tmp_path)
    try:
        uploader = tus_client.TusClient(server.url("/files/")).uploader(
            str(payload_file), chunk_size=CHUNK)
        uploader.upload(stop_at=3 * CHUNK)
        location = uploader.url.removeprefix(server.base)
    finally:
        server.stop()
    with running_server("asyncio", tmp_path) as restarted:  # another model, same data dir
        assert offset(restarted, location) == 3 * CHUNK
        uploader = tus_client.TusClient(restarted.url("/files/")).uploader(
            str(payload_file), chunk_size=CHUNK, url=restarted.url(location))
        assert uploader.offset == 3 * CHUNK
        uploader.upload()
        assert downloaded_digest(restarted, location) == DIGEST


def test_bytes_written_survive_sigkill_of_the_server(tmp_path):
    server = start_server("epoll", tmp_path)
    try:
        location = create(server)
        with server.connect() as sock:
            sock.sendall(request_bytes("PATCH", location, {
                **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(CHUNK)}) + PAYLOAD[:1000])
            assert wait_until(lambda: offset(server, location) == 1000, 5)
            server.proc.send_signal(signal.SIGKILL)  # no abort(), no fsync: the kernel has them
            server.proc.wait(10)
    finally:
        server.stop()
    with running_server("epoll", tmp_path) as restarted:
        assert offset(restarted, location) == 1000
        assert patch(restarted, location, 1000, PAYLOAD[1000:2000]).headers["upload-offset"] == "2000"


@pytest.mark.parametrize("io", ["threads", "epoll", "uvloop"])
def test_concurrent_patches_of_one_upload_are_423(io, tmp_path):
    with running_server(io, tmp_path) as server:
        location = create(server)
        with server.connect() as sock:
            sock.sendall(request_bytes("PATCH", location, {
                **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
                "Content-Length": "100"}) + b"x" * 10)
            assert wait_until(lambda: offset(server, location) == 10, 5)
            second = patch(server, location, 10, b"y" * 5)
            assert second.status_code == 423
            assert second.headers["tus-resumable"] == "1.0.0"
            sock.sendall(b"x" * 90)
            status, headers, _ = read_response(sock, b"PATCH")
            assert status == 204 and headers["upload-offset"] == "100"
        # The lock goes with the PATCH; a dropped PATCH frees it too.
        location = create(server)
        send_half_a_patch(server, location, 0, b"z" * 100)
        assert wait_until(lambda: patch(server, location, 50, b"z" * 50).status_code == 204, 5)
        assert offset(server, location) == 100


def test_ids_are_unguessable_hex(lab_server):
    ids = {create(lab_server, 1).rsplit("/", 1)[1] for _ in range(5)}
    assert len(ids) == 5
    assert all(len(id) == 32 and int(id, 16) >= 0 for id in ids)


def test_raw_patch_with_chunked_framing(lab_server):
    location = create(lab_server, 6)
    head = request_bytes("PATCH", location, {
        **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        "Transfer-Encoding": "chunked"})
    status, headers, _ = raw_request(lab_server, head + b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
    assert status == 204 and headers["upload-offset"] == "6"
