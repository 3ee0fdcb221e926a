"""Hidden checks of exercise 06-asyncio-offload: never shipped in the student kit."""
from __future__ import annotations

from ..checks.asyncio_offload import ASYNCIO, R_OFFLOAD
from ..checks.scripts import Failed, Script, ScriptCheck, expect_status, request


def sequential_on_one_connection(client) -> None:
    sock = client.open()
    with sock:
        for i in range(12):
            data = request("GET", f"/work?ms=5&offload=1&seq={i}")
            sock.sendall(data)
            ex = client.read(sock, data, timeout=3.0)
            expect_status(ex, 200, f"offloaded request {i + 1} of 12 on one connection")
            if ex.head.get("body") != b"worked 5 ms\n":
                raise Failed(f"request {i + 1}: {ex.head.get('body')!r}")


CHECKS = {
    "offload-many-on-one-connection": ScriptCheck([Script("twelve-in-a-row", R_OFFLOAD, sequential_on_one_connection)],
                                                  ASYNCIO),
}
