"""Simple upload: one request carries the whole file, streamed to disk as it arrives.

Exercise 04 starter: this file takes the place of the lab's `lab/patterns/uploads.py`.
Keep the names and signatures; replace each `raise NotImplementedError(...)`.

    POST /uploads            body = the file (Content-Length or chunked)
      -> 201 Created, Location: /uploads/{id}, {"id": ..., "size": n, "sha256": "..."}
    GET /uploads/{id}        -> 200, the bytes (application/octet-stream), streamed
                                from disk: chunked for HTTP/1.1, close-delimited for 1.0

What happens to the bytes (RFC 9110 §9.3.3 POST, §15.3.2 201 Created):
- the body is never held whole in memory: each piece the parser hands over is written
  to a temp file `uploads/tmp-<random>.part` under --data-dir and fed to a sha256;
- on the last byte the file is fsync'ed, renamed to `uploads/<id>` and the directory
  fsync'ed: a reader sees a whole file or none (rename is atomic on POSIX);
- on 413, a broken body, a disconnect or an error the temp file is deleted (the
  connection calls our `abort()`), and temp files left by a crash are deleted when the
  server starts: nothing half-written is ever visible, nothing stored is touched.

Choices:
- 411 Length Required (RFC 9110 §15.5.12: "the server refuses to accept the request
  without a defined Content-Length"): the parser treats a request with neither
  Content-Length nor Transfer-Encoding as an empty body (RFC 9112 §6.3 rule 7), so
  emptiness is no signal. We look at the header fields: a POST with neither gets 411.
  `Content-Length: 0` is an explicit, valid, empty upload.
- Size limit: --max-upload (the lab app's parser accepts bodies that large, see
  `lab/apps/lab.py`). A Content-Length past it gets 413 before any byte is read; a
  chunked body gets 413 on the chunk that crosses it (the parser checks chunk headers).
- Ids are `secrets.token_hex(16)` and are checked against `ID` before any path is
  built: no part of a request target ever reaches the filesystem.
- Writes go to the page cache from the I/O thread (microseconds per 64 KiB); the one
  fsync per upload blocks the event loop for a few milliseconds on event-loop models.
  A lab trade-off, stated: a production server would hand fsync to a thread.
- GET streams the stored file: a `FileStream` (a `Stream` in `lab/app.py`'s sense)
  reads it `READ_SIZE` bytes at a time, one chunk each, so a large file is never held
  whole in memory. It gives at most `TURN` bytes per turn, then says "nothing now" with a
  deadline of now, as the SSE stream bounds a turn (`lab/patterns/sse.py`): the I/O model
  serves the others first, and `epoll`/`asyncio`/`uvloop` hold the next turn back until
  the client has taken what was sent (the thread models block in `sendall()`). So a
  download costs one turn plus the kernel's buffers, whatever the file's size. The price:
  no Content-Length (RFC 9112 §6.1: chunked for HTTP/1.1; an HTTP/1.0 client gets the
  bytes up to the close, §6.3 rule 8). HEAD gets the head only; the file is closed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from pathlib import Path
from time import monotonic
from typing import BinaryIO

from protocols.errors import HTTPError
from protocols.http1 import Headers, Request

from ..app import Response, Wake, json_response
from .common import header

__all__ = ["Uploads", "FileStream", "ID", "READ_SIZE", "TURN"]

log = logging.getLogger("lab")

ID = re.compile(r"[0-9a-f]{32}")
_TEMP_PREFIX = "tmp-"
_TEMP_SUFFIX = ".part"
# Bytes per read, and so per chunk, of a GET: the lab's own socket read size.
READ_SIZE = 64 * 1024
# Bytes one download hands over per turn before others go first: the SSE stream's
# BURST (a few socket buffers' worth, see lab/patterns/sse.py).
TURN = 256 * 1024


class Uploads:
    """The `/uploads` routes, storing under `data_dir/uploads`."""

    def __init__(self, data_dir: Path, max_size: int) -> None:
        self.directory = Path(data_dir) / "uploads"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_size = max_size
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        """Temp files of a server that crashed mid-upload: never completed, never seen."""
        for path in self.directory.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
            path.unlink(missing_ok=True)

    # -- POST /uploads ------------------------------------------------------------
    def post(self, request: Request) -> _UploadWriter:
        raise NotImplementedError(
            "post: HTTPError(411) when the request has neither Content-Length nor "
            "Transfer-Encoding (header(request, b'content-length')); 413 when "
            "Content-Length is past self.max_size, before reading a byte; else return an "
            "_UploadWriter: the connection feeds it the body"
        )

    # -- GET /uploads/{id} --------------------------------------------------------
    def get(self, request: Request, id: str) -> Response:
        raise NotImplementedError(
            "get: 404 unless ID.fullmatch(id) (no request text ever reaches a path "
            "unchecked); open data_dir/uploads/<id> for reading; 404 when missing; 200 "
            "application/octet-stream with FileStream(file) as the body (given below: it "
            "streams the file)"
        )


class FileStream:
    """A `Stream` (see `lab/app.py`) of an open file: always ready, bounded per turn."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        # No time to wait for: data is always ready. Set to "now" only to end a turn.
        self.deadline: float | None = None
        self._given = 0  # bytes handed over in this turn

    def subscribe(self, wake: Wake) -> None:
        """Nothing to wait for: no publisher will ever call `wake`."""

    def cancel(self) -> None:
        """The client went away, HEAD wants no body, or the file ended: close it."""
        self.file.close()

    def pull(self) -> bytes | None:
        if self._given >= TURN:
            # Others first. The Connection pulls until b"", so a file that is always
            # ready would otherwise be read whole into one turn's output. A deadline of
            # now (not a wake-up, which a thread model may miss while it reads from the
            # client) has the I/O model tick us again, once the client took this turn
            # on epoll/asyncio/uvloop.
            self._given = 0
            self.deadline = monotonic()
            return b""
        self.deadline = None
        data = self.file.read(READ_SIZE)
        if not data:
            self.cancel()
            return None
        self._given += len(data)
        return data


class _UploadWriter:
    """The BodyReader of one POST: temp file + sha256 while streaming, rename at the end."""

    def __init__(self, directory: Path, max_size: int) -> None:
        self.directory = directory
        self.max_size = max_size
        self.id = secrets.token_hex(16)
        self.temp = directory / f"{_TEMP_PREFIX}{self.id}{_TEMP_SUFFIX}"
        # O_EXCL: a fresh file, never one that exists; 0o600: nobody else reads uploads.
        self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.size = 0
        self.sha256 = hashlib.sha256()

    def data(self, chunk: bytes) -> None:
        raise NotImplementedError(
            "data: count the bytes (413 past max_size, after abort()), os.write them all to "
            "self.fd (a write may be short), update the sha256"
        )

    def end(self, trailers: Headers) -> Response:
        raise NotImplementedError(
            "end: fsync and close the temp file, rename it to <id> (atomic), fsync the "
            "directory (_fsync_directory); json_response(201, {id, size, sha256}) with "
            "Location: /uploads/<id>"
        )

    def abort(self) -> None:
        """The body will not complete: remove every trace of it. Safe to call twice."""
        raise NotImplementedError(
            "abort: close the fd if open and delete the temp file; safe to call twice"
        )


def _fsync_directory(directory: Path) -> None:
    """A rename is durable once the directory entry is on disk (fsync(2), NOTES)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
