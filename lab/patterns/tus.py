"""Resumable upload: the tus 1.0.0 core protocol and its creation extension, at /files/.

A file goes up in as many PATCH requests as it takes. The server remembers how much
arrived, so after a dropped connection or a server restart the client asks (HEAD) and
goes on from there instead of starting over. (https://tus.io/protocols/resumable-upload)

    OPTIONS /files/          -> 204, Tus-Version, Tus-Extension: creation, Tus-Max-Size
    POST /files/             Upload-Length: n  -> 201, Location: /files/{id}   (creation)
    HEAD /files/{id}         -> 200, Upload-Offset, Upload-Length, Cache-Control: no-store
    PATCH /files/{id}        Upload-Offset: o, Content-Type: application/offset+octet-stream,
                             the bytes from o on -> 204, Upload-Offset: o + bytes received
    GET /files/{id}          -> 200, the bytes, once the upload is complete (not tus; tusd
                             offers the same, and it lets a test compare what arrived)

Every request but OPTIONS carries `Tus-Resumable: 1.0.0` and every answer does too.

Status codes, as the spec's sections say:
- 412 Precondition Failed, with `Tus-Version`: `Tus-Resumable` missing or not 1.0.0
  ("Tus-Resumable" header section);
- 415 Unsupported Media Type: a PATCH without `application/offset+octet-stream` (PATCH);
- 409 Conflict: `Upload-Offset` differs from the offset we hold (PATCH);
- 404 Not Found: no such upload (HEAD: "MUST return 404 ... without an Upload-Offset");
- 413 Request Entity Too Large: `Upload-Length` past `Tus-Max-Size` (creation), or a
  PATCH that would go past `Upload-Length` (as tusd does); 400 for a malformed header.
- 423 Locked, our choice for a PATCH while another PATCH of the same upload is in
  flight: the spec leaves concurrency to the server; tusd answers 423 too (RFC 4918
  §11.3, "the source or destination resource ... is locked"), and a client's retry
  after its first connection is noticed closed then succeeds. 409 would tell the client
  its offset is wrong, which it is not. The lock goes when the PATCH ends or breaks
  off; a client that resumes the instant its connection dropped may get 423 until the
  server has seen the drop (a read of EOF or RST: microseconds to milliseconds; for a
  silently vanished peer, the body read timeout), and retries, as tus clients do.

Durability, the point of the protocol:
- the offset IS the size of the data file on disk (`fstat`): there is no counter to
  get out of step with the bytes;
- each piece of a PATCH body is appended with `os.write` as it arrives: once written it
  is in the kernel and survives the process (even SIGKILL); `fsync` at the end of each
  PATCH, and when one breaks off, makes it survive a power loss too. A connection
  dropped mid-PATCH keeps every byte that arrived (the connection calls `abort()`,
  which fsyncs and unlocks), and HEAD reports it;
- each upload has `{id}.info` (length, metadata), written to a temp file, fsync'ed and
  renamed before the 201 is sent, so a server restarted on the same --data-dir finds
  every upload it acknowledged. A data file without its info (a crash between the two
  creations) is removed at start.

Safety: ids are `secrets.token_hex(16)` (128 bits, unguessable), and an id from a
request target must match `ID` before any path is built from it: `..`, `/` or anything
else gets 404 and never reaches the filesystem.

Not offered: creation-with-upload (a POST with a body is 400), creation-defer-length,
termination, checksum, expiration (uploads stay until the data dir is cleaned).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from pathlib import Path

from protocols.errors import HTTPError
from protocols.http1 import Headers, Request

from ..app import Response
from .common import header
from .uploads import FileStream

__all__ = ["Tus", "ID", "TUS_VERSION"]

TUS_VERSION = b"1.0.0"
ID = re.compile(r"[0-9a-f]{32}")
_RESUMABLE = (b"Tus-Resumable", TUS_VERSION)
_OFFSET_TYPE = b"application/offset+octet-stream"
# Upload-Metadata is echoed back on HEAD; bound what we store per upload.
MAX_METADATA = 4096


def _error(status: int, message: str, *extra: tuple[bytes, bytes]) -> HTTPError:
    return HTTPError(status, message, [_RESUMABLE, *extra])


class Tus:
    """The `/files/` routes, storing `data_dir/tus/{id}` (bytes) and `{id}.info` (JSON)."""

    def __init__(self, data_dir: Path, max_size: int) -> None:
        self.directory = Path(data_dir) / "tus"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_size = max_size
        self._lock = threading.Lock()
        self._busy: set[str] = set()  # uploads with a PATCH in flight
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        for path in self.directory.iterdir():
            if ID.fullmatch(path.name) and not path.with_name(path.name + ".info").exists():
                path.unlink(missing_ok=True)
            elif path.name.endswith(".info.tmp"):
                path.unlink(missing_ok=True)

    # -- checks every request but OPTIONS goes through -------------------------------
    def _check_version(self, request: Request) -> None:
        # "The Tus-Resumable header MUST be included in every request and response
        # except for OPTIONS requests. ... If the version specified by the Client is not
        # supported by the Server, it MUST respond with the 412 Precondition Failed
        # status and MUST include the Tus-Version header into the response."
        if header(request, b"tus-resumable") != TUS_VERSION:
            raise _error(412, "Tus-Resumable: 1.0.0 required", (b"Tus-Version", TUS_VERSION))

    def _info(self, id: str) -> dict:
        """The stored info of upload `id`, or 404. The id is validated first."""
        if not ID.fullmatch(id):
            raise _error(404, "no such upload")
        try:
            with open(self.directory / f"{id}.info", "rb") as file:
                return json.load(file)
        except FileNotFoundError:
            raise _error(404, "no such upload") from None

    def _offset(self, id: str) -> int:
        try:
            return os.stat(self.directory / id).st_size
        except FileNotFoundError:
            raise _error(404, "no such upload") from None

    # -- OPTIONS: what this server offers ---------------------------------------------
    def options(self, request: Request, id: str | None = None) -> Response:
        return Response(204, [
            _RESUMABLE,
            (b"Tus-Version", TUS_VERSION),
            (b"Tus-Extension", b"creation"),
            (b"Tus-Max-Size", b"%d" % self.max_size),
        ])

    # -- POST: creation ------------------------------------------------------------
    def create(self, request: Request) -> Response:
        self._check_version(request)
        if header(request, b"upload-defer-length") is not None:
            raise _error(400, "creation-defer-length is not offered: send Upload-Length")
        length = _number(header(request, b"upload-length"), "Upload-Length")
        if length > self.max_size:
            # creation: "If the length of the upload exceeds the maximum, which MAY be
            # specified using the Tus-Max-Size header, the Server MUST respond with the
            # 413 Request Entity Too Large status."
            raise _error(413, f"Upload-Length past Tus-Max-Size {self.max_size}",
                         (b"Tus-Max-Size", b"%d" % self.max_size))
        if _has_body(request):
            raise _error(400, "creation-with-upload is not offered: POST without a body")
        metadata = header(request, b"upload-metadata") or b""
        if len(metadata) > MAX_METADATA:
            raise _error(400, f"Upload-Metadata longer than {MAX_METADATA} bytes")
        id = secrets.token_hex(16)
        data = self.directory / id
        os.close(os.open(data, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        info = {"length": length, "metadata": metadata.decode("latin-1"), "created": time.time()}
        _write_atomically(self.directory / f"{id}.info", json.dumps(info).encode())
        return Response(201, [_RESUMABLE, (b"Location", f"/files/{id}".encode())])

    # -- HEAD: how much arrived ----------------------------------------------------
    def head(self, request: Request, id: str) -> Response:
        self._check_version(request)
        info = self._info(id)
        headers = [
            _RESUMABLE,
            (b"Upload-Offset", b"%d" % self._offset(id)),
            (b"Upload-Length", b"%d" % info["length"]),
            # "The Server MUST prevent the client and/or proxies from caching the
            # response by adding the Cache-Control: no-store header to the response."
            (b"Cache-Control", b"no-store"),
        ]
        if info["metadata"]:
            headers.append((b"Upload-Metadata", info["metadata"].encode("latin-1")))
        return Response(200, headers)

    # -- PATCH: append the bytes ---------------------------------------------------
    def patch(self, request: Request, id: str) -> _Appender:
        self._check_version(request)
        info = self._info(id)
        content_type = (header(request, b"content-type") or b"").split(b";")[0].strip()
        if content_type.lower() != _OFFSET_TYPE:
            # "All PATCH requests MUST use Content-Type: application/offset+octet-stream,
            # otherwise the server SHOULD return a 415 Unsupported Media Type status."
            raise _error(415, "PATCH needs Content-Type: application/offset+octet-stream")
        offset = _number(header(request, b"upload-offset"), "Upload-Offset")
        with self._lock:
            if id in self._busy:
                raise _error(423, "another PATCH of this upload is in flight")
            self._busy.add(id)
        appender = None
        try:
            appender = _Appender(self, id, info["length"])
            if offset != appender.offset:
                # "If the offsets do not match, the Server MUST respond with the 409
                # Conflict status without modifying the upload resource."
                raise _error(409, f"Upload-Offset {offset}, but the upload is at "
                                  f"{appender.offset}", (b"Upload-Offset", b"%d" % appender.offset))
            declared = header(request, b"content-length")
            if declared is not None and offset + int(declared.split(b",")[0]) > appender.length:
                raise _error(413, "the body goes past Upload-Length")
        except BaseException:
            self._release(id, appender)
            raise
        return appender

    def _release(self, id: str, appender: _Appender | None) -> None:
        if appender is not None:
            appender.close()
        with self._lock:
            self._busy.discard(id)

    # -- GET: the whole file, once complete -------------------------------------------
    def get(self, request: Request, id: str) -> Response:
        info = self._info(id)
        file = open(self.directory / id, "rb")
        size = os.fstat(file.fileno()).st_size
        if size != info["length"]:
            file.close()
            raise _error(409, f"upload incomplete: {size} of {info['length']} bytes")
        # Streamed a turn at a time, as uploads are: an upload may be 1 GiB.
        return Response(200, [_RESUMABLE, (b"Content-Type", b"application/octet-stream")], FileStream(file))


class _Appender:
    """The BodyReader of one PATCH: each piece appended and in the kernel at once."""

    def __init__(self, tus: Tus, id: str, length: int) -> None:
        self.tus = tus
        self.id = id
        self.length = length
        self.fd = os.open(tus.directory / id, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self.offset = os.fstat(self.fd).st_size

    def data(self, chunk: bytes) -> None:
        if self.offset + len(chunk) > self.length:
            self.abort()  # what arrived before this piece stays: it fit
            raise _error(413, "the body goes past Upload-Length")
        view = memoryview(chunk)
        while view:
            written = os.write(self.fd, view)
            self.offset += written
            view = view[written:]

    def end(self, trailers: Headers) -> Response:
        offset = self.offset
        self.tus._release(self.id, self)
        return Response(204, [_RESUMABLE, (b"Upload-Offset", b"%d" % offset)])

    def abort(self) -> None:
        """The PATCH broke off: keep every byte that arrived, unlock. Safe twice."""
        if self.fd >= 0:
            self.tus._release(self.id, self)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _number(value: bytes | None, name: str) -> int:
    # tus: Upload-Length and Upload-Offset "MUST be a non-negative integer".
    if value is None:
        raise _error(400, f"{name} is required")
    if not value.isdigit() or len(value) > 18:
        raise _error(400, f"{name} must be a non-negative integer")
    return int(value)


def _has_body(request: Request) -> bool:
    length = header(request, b"content-length")
    if length is not None:
        return length.split(b",")[0].strip() != b"0"
    return header(request, b"transfer-encoding") is not None


def _write_atomically(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: temp file, fsync, rename, fsync the directory."""
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
