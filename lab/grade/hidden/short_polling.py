"""Hidden checks of exercise 07-short-polling: never shipped in the student kit."""
from __future__ import annotations

import time

from ..checks.labserver import Scenario, ScenarioCheck
from ..checks.short_polling import R_SIDE_BY_SIDE, post_job


def jobs_run_side_by_side(s: Scenario) -> None:
    started = time.monotonic()
    ids = [post_job(s, 1.0, id=f"post-{i + 1}")[0] for i in range(3)]
    pending = set(ids)
    reply = None
    while pending and time.monotonic() - started < 2.2:
        for jid in sorted(pending):
            reply = s.request("GET", f"/jobs/{jid}")
            body = reply.json()
            if isinstance(body, dict) and body.get("state") == "done":
                pending.discard(jid)
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    s.expect("all-done", not pending, R_SIDE_BY_SIDE, reply=reply,
             expected="all three done within 2.2 s of the first POST",
             got=f"({len(pending)} still running after {elapsed:.1f} s)",
             hint="Each job runs on its own (a clock or a thread per job), not one after another.")


CHECKS = {
    "jobs-run-side-by-side": ScenarioCheck(jobs_run_side_by_side),
}
