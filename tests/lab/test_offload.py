"""Offloaded work answers through a Deferred that wakes its connection."""
from __future__ import annotations

import threading

from lab.app import Response
from lab.offload import offload


def test_offloaded_work_runs_off_thread_and_wakes_when_done():
    release = threading.Event()
    ran_on: list[str] = []

    def work() -> Response:
        ran_on.append(threading.current_thread().name)
        release.wait(5)
        return Response(200, body=b"done")

    deferred = offload(work)
    woken = threading.Event()
    deferred.subscribe(woken.set)
    assert deferred.poll() is None
    release.set()
    assert woken.wait(5)
    assert deferred.poll().body == b"done"
    assert ran_on and ran_on[0].startswith("offload")
