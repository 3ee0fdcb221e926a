"""Check bodies for exercise 04-uploads: simple upload (RFC 9110 §9.3.3, §15.3.2) and
resumable upload (tus 1.0.0 core + creation, https://tus.io/protocols/resumable-upload).

Every check runs the whole lab (``--app lab --io threads``) on the student's
``uploads.py`` and ``tus.py`` and talks to it over sockets. File contents and the
offset where an upload is interrupted come from the run's seed; what arrives is
compared by sha256.
"""
from __future__ import annotations

import hashlib
import json
import time

from .. import feedback
from .scripts import Failed, Script, ScriptCheck, expect_status, field, request

SERVE = ("--app", "lab", "--io", "threads", "--data-dir", "data", "--max-upload", "300000")
TUS = [("Tus-Resumable", "1.0.0")]
OCTETS = ("Content-Type", "application/offset+octet-stream")

R_POST = ("RFC 9110 §15.3.2: 201 (Created) with a Location for the new resource; the lab answers "
          "{id, size, sha256} and GET /uploads/{id} gives the bytes back")
R_411 = "RFC 9110 §15.5.12: 411 (Length Required): the server refuses the request without a defined Content-Length"
R_413 = "RFC 9110 §15.5.14: 413 (Content Too Large), before the body is read when Content-Length says so"
R_CREATE = ("tus creation: POST with Upload-Length -> 201 and Location; HEAD -> Upload-Offset, Upload-Length and "
            "Cache-Control: no-store; every request and response carries Tus-Resumable (412 without it)")
R_PATCH = ("tus core: PATCH with Upload-Offset and Content-Type: application/offset+octet-stream appends the bytes; "
           "204 with the new Upload-Offset")
R_RESUME = ("tus core: after an interruption the client asks HEAD for the offset and resumes from it: the server keeps "
            "every byte that arrived")
R_409 = ("tus core: If the offsets do not match, the Server MUST respond with the 409 Conflict status without "
         "modifying the upload resource")


def blob(rng, lo: int = 20_000, hi: int = 120_000) -> bytes:
    return rng.randbytes(rng.randint(lo, hi))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def location(ex, prefix: str) -> str:
    loc = field(ex, b"location")
    if not loc or not loc.decode("latin-1").startswith(prefix):
        raise Failed(f"the 201 needs a Location header starting with {prefix}, got {loc!r}")
    return loc.decode("latin-1")


def check_stored(client, target: str, data: bytes) -> None:
    ex = client.request(request("GET", target, TUS if target.startswith("/files/") else ()))
    expect_status(ex, 200, f"GET {target}")
    body = ex.head.get("body", b"")
    if body != data:
        raise Failed(f"GET {target} gave {len(body)} bytes (sha256 {sha(body)[:16]}...), expected {len(data)} "
                     f"(sha256 {sha(data)[:16]}...)")


# --- simple upload ---------------------------------------------------------------------


def upload_content_length(client) -> None:
    data = blob(client.rng)
    ex = client.request(request("POST", "/uploads", body=data))
    expect_status(ex, 201, "POST /uploads")
    target = location(ex, "/uploads/")
    try:
        doc = json.loads(ex.head["body"])
    except ValueError:
        raise Failed("the 201's body is not JSON {id, size, sha256}") from None
    if doc.get("size") != len(data) or doc.get("sha256") != sha(data):
        raise Failed(f"the server says size={doc.get('size')} sha256={doc.get('sha256')}; the upload was "
                     f"{len(data)} bytes, sha256 {sha(data)}")
    check_stored(client, target, data)


def upload_chunked(client) -> None:
    data = blob(client.rng)
    cuts = sorted(client.rng.sample(range(1, len(data)), 5))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    ex = client.request(request("POST", "/uploads", [("Transfer-Encoding", "chunked")], body))
    expect_status(ex, 201, "POST /uploads (chunked)")
    doc = json.loads(ex.head["body"] or b"{}")
    if doc.get("sha256") != sha(data):
        raise Failed(f"sha256 {doc.get('sha256')}, expected {sha(data)} (the chunked body, decoded)")
    check_stored(client, location(ex, "/uploads/"), data)


def upload_refusals(client) -> None:
    expect_status(client.request(b"POST /uploads HTTP/1.1\r\nHost: lab\r\n\r\n"), 411, "POST /uploads with no length")
    expect_status(client.request(b"POST /uploads HTTP/1.1\r\nHost: lab\r\nContent-Length: 400000\r\n\r\n"), 413,
                  "POST /uploads past --max-upload (300000)")
    expect_status(client.request(request("GET", "/uploads/" + "0" * 32)), 404, "GET of an upload that does not exist")
    expect_status(client.request(request("GET", "/uploads/..%2f..%2fetc%2fpasswd")), 404, "GET /uploads/ with a path")


# --- resumable upload ------------------------------------------------------------------


def tus_create(client, length: int) -> str:
    ex = client.request(request("POST", "/files/", [*TUS, ("Upload-Length", str(length))], b""))
    expect_status(ex, 201, "POST /files/")
    return location(ex, "/files/")


def tus_offset(client, target: str) -> int:
    ex = client.request(request("HEAD", target, TUS))
    expect_status(ex, 200, f"HEAD {target}")
    value = field(ex, b"upload-offset")
    if value is None or not value.isdigit():
        raise Failed(f"HEAD {target} needs Upload-Offset, got {value!r}")
    return int(value)


def tus_patch(client, target: str, offset: int, data: bytes, retry_locked: float = 3.0):
    msg = request("PATCH", target, [*TUS, OCTETS, ("Upload-Offset", str(offset))], data)
    deadline = time.monotonic() + retry_locked
    while True:
        ex = client.request(msg)
        if ex.head.get("status") != 423 or time.monotonic() > deadline:
            return ex
        time.sleep(0.05)  # the server has not yet seen the dropped PATCH: retry, as tus clients do


def tus_create_and_head(client) -> None:
    target = tus_create(client, 1000)
    ex = client.request(request("HEAD", target, TUS))
    expect_status(ex, 200, f"HEAD {target}")
    for name, value in ((b"upload-offset", b"0"), (b"upload-length", b"1000"), (b"cache-control", b"no-store"),
                        (b"tus-resumable", b"1.0.0")):
        if field(ex, name) != value:
            raise Failed(f"HEAD {target}: expected {name.decode()}: {value.decode()}, got {field(ex, name)!r}")
    ex = client.request(request("POST", "/files/", [("Upload-Length", "10")], b""))
    expect_status(ex, 412, "POST /files/ without Tus-Resumable")


def tus_pieces(client) -> None:
    data = blob(client.rng)
    target = tus_create(client, len(data))
    cuts = sorted(client.rng.sample(range(1, len(data)), 2))
    offset = 0
    for end in [*cuts, len(data)]:
        ex = tus_patch(client, target, offset, data[offset:end])
        expect_status(ex, 204, f"PATCH {target} at {offset}")
        if field(ex, b"upload-offset") != b"%d" % end:
            raise Failed(f"after PATCH at {offset} with {end - offset} bytes: Upload-Offset should be {end}, got "
                         f"{field(ex, b'upload-offset')!r}")
        offset = end
    check_stored(client, target, data)


def tus_resume(client) -> None:
    data = blob(client.rng)
    target = tus_create(client, len(data))
    cut = client.rng.randint(1, len(data) - 1)
    msg = request("PATCH", target, [*TUS, OCTETS, ("Upload-Offset", "0")], data)
    sock = client.open()
    head_len = len(msg) - len(data)
    sock.sendall(msg[: head_len + cut])  # the connection drops at a seeded offset
    time.sleep(0.1)
    sock.close()
    client._note(msg[: head_len + cut], b"(connection dropped by the client)")
    deadline, offset = time.monotonic() + 3.0, -1
    while time.monotonic() < deadline:
        offset = tus_offset(client, target)
        if offset == cut:
            break
        time.sleep(0.05)
    if offset != cut:
        raise Failed(f"the connection dropped after {cut} body bytes; HEAD says Upload-Offset {offset}: every byte that "
                     "arrived must be kept (and none invented)")
    ex = tus_patch(client, target, cut, data[cut:])
    expect_status(ex, 204, f"PATCH {target} resuming at {cut}")
    check_stored(client, target, data)


def tus_conflicts(client) -> None:
    data = blob(client.rng, 3000, 6000)
    target = tus_create(client, len(data))
    first = client.rng.randint(1000, 2000)
    expect_status(tus_patch(client, target, 0, data[:first]), 204, "PATCH of the first part")
    overlap = client.rng.randint(1, first - 1)
    ex = tus_patch(client, target, overlap, data[overlap:first + 500])
    expect_status(ex, 409, f"PATCH at {overlap} (overlapping what arrived, the upload is at {first})")
    gap = first + client.rng.randint(1, 500)
    ex = tus_patch(client, target, gap, data[gap:])
    expect_status(ex, 409, f"PATCH at {gap} (out of order: the upload is at {first})")
    if (now := tus_offset(client, target)) != first:
        raise Failed(f"after two refused PATCHes the upload must be unchanged at {first}, HEAD says {now}")
    expect_status(tus_patch(client, target, first, data[first:]), 204, "PATCH of the rest")
    check_stored(client, target, data)


CHECKS = {
    "upload-content-length": ScriptCheck([Script("post-then-get", R_POST, upload_content_length)], SERVE),
    "upload-chunked": ScriptCheck([Script("chunked-post-then-get", R_POST, upload_chunked)], SERVE),
    "upload-refusals": ScriptCheck([Script("411-413-404", R_411 + "; " + R_413, upload_refusals)], SERVE),
    "tus-create-and-head": ScriptCheck([Script("create-head-412", R_CREATE, tus_create_and_head)], SERVE),
    "tus-patch-in-pieces": ScriptCheck([Script("three-patches", R_PATCH, tus_pieces)], SERVE),
    "tus-resume-after-drop": ScriptCheck([Script("drop-at-seeded-offset", R_RESUME, tus_resume)], SERVE),
    "tus-conflicting-offsets": ScriptCheck([Script("overlap-and-gap", R_409, tus_conflicts)], SERVE),
}
