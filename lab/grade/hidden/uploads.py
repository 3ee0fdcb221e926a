"""Hidden checks of exercise 04-uploads: never shipped in the student kit."""
from __future__ import annotations

from ..checks.scripts import Script, ScriptCheck, expect_status, request
from ..checks.uploads import OCTETS, SERVE, TUS, tus_create, tus_offset, tus_patch

R_TUS_ERRORS = ("tus core: 415 for a PATCH without application/offset+octet-stream; 413 for bytes past Upload-Length; "
                "404 for an unknown upload")


def tus_refusals(client) -> None:
    target = tus_create(client, 100)
    ex = client.request(request("PATCH", target, [*TUS, ("Upload-Offset", "0"), ("Content-Type", "text/plain")], b"abc"))
    expect_status(ex, 415, "PATCH with Content-Type: text/plain")
    expect_status(tus_patch(client, target, 0, b"z" * 150), 413, "PATCH past Upload-Length")
    expect_status(client.request(request("HEAD", "/files/" + "f" * 32, TUS)), 404, "HEAD of an unknown upload")
    if tus_offset(client, target) != 0:
        from ..checks.scripts import Failed

        raise Failed("refused PATCHes must leave the upload at offset 0")


CHECKS = {
    "tus-refusals": ScriptCheck([Script("415-413-404", R_TUS_ERRORS, tus_refusals)], SERVE),
}
