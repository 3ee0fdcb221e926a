"""Check bodies for exercise 07-short-polling (jobs with handles, RFC 9110 §15.3.3).

The student's ``jobs.py`` takes the place of ``lab/patterns/jobs.py``; each check serves
the whole lab on it (``--io epoll``: one thread, so work done on the I/O path stalls
every connection) and runs a scenario of requests. Expectations are written from the
contract in ARCHITECTURE.md and the RFC, not recorded from the reference.
"""
from __future__ import annotations

import json
import re
import time

from .labserver import Scenario, ScenarioCheck

__all__ = ["CHECKS", "post_job", "job_id"]

R_202 = ("RFC 9110 §15.3.3: 202 (Accepted) means the request has been accepted for processing, but the "
         "processing has not been completed; the server answers at once, before the work is done")
R_LOCATION = ("RFC 9110 §10.2.2: in a 202 the Location field can point the client at a status monitor; here "
              "`Location: /jobs/{id}` is the handle the client polls (ARCHITECTURE.md)")
R_STATUS = ('ARCHITECTURE.md: GET /jobs/{id} -> 200 {"id","state","progress","result"}: state "running" with '
            'progress going from 0 to 1, then "done" with progress 1 and a result')
R_404 = "RFC 9110 §15.5.5: 404 (Not Found) for a handle the server does not know"
R_400 = 'RFC 9110 §15.5.1: 400 (Bad Request) for a body that is not {"seconds": s} with 0 <= s <= 300'
R_OFF_PATH = ("The work runs off the I/O path: while a job runs, the server keeps answering every other "
              "request at once (here the server runs on one thread: --io epoll)")
R_SIDE_BY_SIDE = "Jobs run side by side: three 1-second jobs started together are all done after about 1 second"

ID_IN_LOCATION = re.compile(rb"/jobs/([^/?#\s]+)")


def job_id(reply) -> str | None:
    """The job's id: from the body's "id", else from the Location."""
    body = reply.json()
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        return body["id"]
    loc = reply.header(b"location")
    m = ID_IN_LOCATION.search(loc or b"")
    return m.group(1).decode("latin-1") if m else None


def post_job(s: Scenario, seconds: float, id: str = "post-job", timeout: float = 3.0):
    """POST /jobs; any 2xx with an id is enough here (the 202 itself has its own check)."""
    reply = s.request("POST", "/jobs", json.dumps({"seconds": seconds}).encode(), timeout=timeout)
    s.expect_status(id, reply, (200, 201, 202), "POST /jobs {\"seconds\": s} starts a job")
    jid = job_id(reply)
    s.expect(f"{id}/id", jid is not None, 'the answer names the job: {"id": ...} (or Location: /jobs/{id})',
             expected='{"id": "...", "state": "running", ...}', reply=reply, fatal=True)
    return jid, reply


# --- stage 1: a handle, at once ------------------------------------------------------


def post_answers_202_at_once(s: Scenario) -> None:
    reply = s.request("POST", "/jobs", b'{"seconds": 2}', timeout=4.0)
    s.expect_status("status-202", reply, 202, R_202)
    s.expect("answered-at-once", reply.elapsed < 0.5, R_202, expected="the answer within 0.5 s of the request",
             reply=reply, got=f"(answered after {reply.elapsed:.2f} s)",
             hint="Start the work and answer; do not wait for it to finish (no sleep in the request handler).")
    body = reply.json()
    s.expect("body-running", isinstance(body, dict) and body.get("state") == "running"
             and isinstance(body.get("id"), str),
             R_STATUS + "; the 202's body is the job as it is now", expected='{"id": "...", "state": "running", ...}',
             reply=reply)


def location_is_the_handle(s: Scenario) -> None:
    jid, reply = post_job(s, 0.5)
    loc = reply.header(b"location")
    s.expect("location-present", loc is not None, R_LOCATION, expected="Location: /jobs/{id}", reply=reply,
             hint="Add a `Location: /jobs/{id}` field to the 202.", fatal=True)
    want = f"/jobs/{jid}".encode()
    s.expect("location-names-the-job", loc == want, R_LOCATION, expected=f"Location: {want.decode()}", reply=reply,
             got=f"(Location: {loc.decode('latin-1')})", fatal=True)
    again = s.request("GET", want.decode())
    s.expect_status("location-answers", again, 200, R_LOCATION + "; GET of it answers 200")
    body = again.json()
    s.expect("same-job", isinstance(body, dict) and body.get("id") == jid, R_STATUS,
             expected=f'{{"id": "{jid}", ...}}', reply=again)


def bad_job_request_400(s: Scenario) -> None:
    for id, body in (("not-json", b"seconds=1"), ("negative", b'{"seconds": -1}'),
                     ("a-string", b'{"seconds": "3"}'), ("a-boolean", b'{"seconds": true}'),
                     ("too-long", b'{"seconds": 1e9}'), ("not-an-object", b"[1]")):
        reply = s.request("POST", "/jobs", body)
        s.expect_status(id, reply, 400, R_400, fatal=False)


# --- stage 2: polling the handle ------------------------------------------------------


def status_and_progress(s: Scenario) -> None:
    seconds = 1.0
    jid, _ = post_job(s, seconds)
    started = time.monotonic()
    samples = []
    last = None
    while time.monotonic() - started < seconds + 1.5:
        reply = s.request("GET", f"/jobs/{jid}")
        s.expect_status("poll-200", reply, 200, R_STATUS)
        body = reply.json()
        fields_ok = (isinstance(body, dict) and {"id", "state", "progress", "result"} <= set(body)
                     and body["state"] in ("running", "done") and isinstance(body["progress"], (int, float))
                     and not isinstance(body["progress"], bool) and 0 <= body["progress"] <= 1)
        s.expect("poll-fields", fields_ok, R_STATUS, reply=reply,
                 expected='{"id": "...", "state": "running"|"done", "progress": 0..1, "result": ...}', fatal=True)
        samples.append((time.monotonic() - started, body["state"], body["progress"]))
        last = (reply, body)
        if body["state"] == "done":
            break
        time.sleep(0.15)
    reply, body = last
    trail = ", ".join(f"{t:.2f}s {st} {p:g}" for t, st, p in samples)
    progress = [p for _, _, p in samples]
    s.expect("progress-never-goes-back", progress == sorted(progress), R_STATUS,
             expected="progress that never decreases", reply=reply, got=f"(polls: {trail})")
    s.expect("progress-moves", any(st == "running" and 0 < p < 1 for _, st, p in samples), R_STATUS,
             expected="while running, progress between 0 and 1 (here: elapsed / seconds)", reply=reply,
             got=f"(polls: {trail})", hint="Update progress as the job goes, not only at its end.")
    s.expect("done-in-time", body["state"] == "done", R_STATUS, reply=reply,
             expected=f'state "done" within {seconds + 1.5:g} s of starting a {seconds:g} s job', got=f"(polls: {trail})",
             fatal=True)
    done_at = samples[-1][0]
    s.expect("not-done-early", done_at >= seconds * 0.8, R_STATUS, reply=reply,
             expected=f"a {seconds:g} s job is not done before {seconds * 0.8:g} s", got=f"(polls: {trail})")
    s.expect("done-has-result", body["progress"] == 1 and body["result"] is not None, R_STATUS, reply=reply,
             expected='"progress": 1 and a "result" that is not null once done')


def unknown_job_404(s: Scenario) -> None:
    for id, target in (("unknown-id", "/jobs/0123456789abcdef"), ("not-an-id", "/jobs/no-such-job")):
        reply = s.request("GET", target)
        s.expect_status(id, reply, 404, R_404, fatal=False)


def work_off_the_io_path(s: Scenario) -> None:
    post = s.start("POST", "/jobs", b'{"seconds": 1.5}')
    time.sleep(0.05)
    reply = s.request("GET", "/topics/lab-grade?after=0", timeout=3.0)
    s.expect("served-during-post", reply.status is not None and reply.elapsed < 0.3, R_OFF_PATH, reply=reply,
             expected="an answer within 0.3 s, while the POST /jobs of a 1.5 s job is in flight",
             got=f"(answered after {reply.elapsed:.2f} s)",
             hint="The request handler must not do the work (or sleep): hand it to another thread and return.")
    first = post.finish(3.0)
    s.expect_status("post-ok", first, (200, 201, 202), "POST /jobs starts a job")
    jid = job_id(first)
    s.expect("post-names-job", jid is not None, R_STATUS, reply=first, fatal=True)
    for i in range(4):
        reply = s.request("GET", f"/jobs/{jid}", timeout=3.0)
        body = reply.json() or {}
        s.expect(f"poll-{i + 1}-at-once", reply.status == 200 and reply.elapsed < 0.3, R_OFF_PATH, reply=reply,
                 expected="HTTP/1.1 200 within 0.3 s while the job runs", got=f"(after {reply.elapsed:.2f} s)")
        if body.get("state") == "done":
            break
        time.sleep(0.1)


CHECKS = {
    "post-answers-202-at-once": ScenarioCheck(post_answers_202_at_once),
    "location-is-the-handle": ScenarioCheck(location_is_the_handle),
    "bad-job-request-400": ScenarioCheck(bad_job_request_400),
    "status-and-progress": ScenarioCheck(status_and_progress),
    "unknown-job-404": ScenarioCheck(unknown_job_404),
    "work-off-the-io-path": ScenarioCheck(work_off_the_io_path),
}
