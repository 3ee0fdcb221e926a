"""Short polling with a handle, and long polling for the end of the work.

    POST /jobs        {"seconds": s}  -> 202 Accepted, Location: /jobs/{id}, the job
    GET /jobs/{id}                    -> 200 {"id", "state", "progress", "result"}
    GET /jobs/{id}?wait=S             -> the same, once the job is done or S seconds pass

A request that starts slow work should not hold its connection (or, on the thread
models, its thread) for the whole of it. RFC 9110 §15.3.3: 202 Accepted means "the
request has been accepted for processing, but the processing has not been completed";
the `Location` is the handle the client polls.

- **Short polling**: the client asks again and again; each answer says how far the job
  got. Simple, cacheable, stateless, and wasteful: most answers say "not yet".
- **Long polling** (`?wait=S`): the server holds the answer until the job is done or S
  seconds pass, whichever comes first; at the deadline it answers the current state
  (state "running", its progress), not an error, and the client asks again. Progress
  updates do not end the wait: the point is "tell me when it is done" in one request.
  S is clamped to `LONG_POLL_MAX_WAIT` (60 s).

The work runs off the I/O path, so the server keeps answering meanwhile: one scheduler
thread (`jobs-clock`) advances every running job each `TICK` seconds (progress =
elapsed / seconds), marks it done at the end and wakes the long polls waiting on it by
calling their `wake()` (the I/O model's own way: an eventfd, call_soon_threadsafe). A
held long poll is the `Deferred` the connection drives: it subscribes its wake, is
polled when woken or at its deadline, and is unsubscribed on `cancel()` (the client
left) so no waiter outlives its client.

Job states: "running" -> "done" (with `result`). Ids are `secrets.token_hex(8)` and
validated by `ID`. At most `MAX_RUNNING` jobs run at once (more: 503 with Retry-After);
the newest `MAX_KEPT` jobs are kept, older finished ones are forgotten (then 404).
"""
from __future__ import annotations

import heapq
import json
import re
import secrets
import threading
from time import monotonic
from typing import Callable

from protocols.errors import HTTPError
from protocols.http1 import Headers, Request

from ..app import Response, json_response
from ..router import query_params, split_target
from .common import LONG_POLL_MAX_WAIT, query_number

__all__ = ["Jobs", "Job", "ID", "TICK", "MAX_SECONDS"]

ID = re.compile(r"[0-9a-f]{16}")
# How often a running job's progress moves: 10 times a second is smooth to watch.
TICK = 0.1
# The longest simulated job: five minutes covers every lab exercise.
MAX_SECONDS = 300.0
MAX_RUNNING = 1000
MAX_KEPT = 10_000


class Job:
    __slots__ = ("id", "seconds", "started", "state", "progress", "result", "waiters")

    def __init__(self, id: str, seconds: float) -> None:
        self.id = id
        self.seconds = seconds
        self.started = monotonic()
        self.state = "running"
        self.progress = 0.0
        self.result: dict | None = None
        self.waiters: set[Callable[[], None]] = set()  # wakes of held long polls

    def view(self) -> dict:
        return {"id": self.id, "state": self.state, "progress": round(self.progress, 3),
                "result": self.result}


class Jobs:
    """The `/jobs` routes and the clock thread that does the (simulated) work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}  # insertion order = age
        self._due: list[tuple[float, str]] = []  # (when to advance, job id), a heap
        self._running = 0
        self._clock: threading.Thread | None = None

    # -- POST /jobs --------------------------------------------------------------------
    def start(self, request: Request, body: bytes, trailers: Headers) -> Response:
        seconds = _seconds(body)
        with self._lock:
            if self._running >= MAX_RUNNING:
                raise HTTPError(503, f"{MAX_RUNNING} jobs are running; try later",
                                [(b"Retry-After", b"1")])
            job = Job(secrets.token_hex(8), seconds)
            self._jobs[job.id] = job
            self._running += 1
            self._forget_old()
            heapq.heappush(self._due, (job.started + min(TICK, seconds), job.id))
            self._ensure_clock()
            self._changed.notify()
            view = job.view()
        return json_response(202, view, [(b"Location", f"/jobs/{job.id}".encode())])

    # -- GET /jobs/{id}[?wait=S] --------------------------------------------------------
    def status(self, request: Request, id: str) -> Response | JobWait:
        job = self._jobs.get(id) if ID.fullmatch(id) else None
        if job is None:
            raise HTTPError(404, "no such job")
        wait = query_number(query_params(split_target(request.target)[1]), "wait",
                            default=0.0, maximum=LONG_POLL_MAX_WAIT)
        if job.state == "done" or not wait:
            return json_response(200, job.view())
        return JobWait(self, job, monotonic() + wait)

    def waiter_count(self) -> int:
        """Long polls held on jobs right now (a test reads it via /stats)."""
        with self._lock:
            return sum(len(job.waiters) for job in self._jobs.values())

    # -- the clock thread: the work, off the I/O path ------------------------------------
    def _ensure_clock(self) -> None:
        if self._clock is None:
            self._clock = threading.Thread(target=self._run_clock, name="jobs-clock", daemon=True)
            self._clock.start()

    def _run_clock(self) -> None:
        while True:
            wakes: list[Callable[[], None]] = []
            with self._lock:
                while not self._due or self._due[0][0] > monotonic():
                    self._changed.wait(None if not self._due else self._due[0][0] - monotonic())
                now = monotonic()
                while self._due and self._due[0][0] <= now:
                    _, id = heapq.heappop(self._due)
                    job = self._jobs.get(id)
                    if job is not None and self._advance(job, now):
                        wakes += job.waiters
            for wake in wakes:  # outside the lock, as the broker does
                wake()

    def _advance(self, job: Job, now: float) -> bool:
        """Move `job` on; True when it has just finished."""
        elapsed = now - job.started
        if elapsed < job.seconds:
            job.progress = elapsed / job.seconds
            heapq.heappush(self._due, (min(now + TICK, job.started + job.seconds), job.id))
            return False
        job.progress = 1.0
        job.result = {"slept": job.seconds}
        job.state = "done"  # last: a reader that sees "done" sees the result
        self._running -= 1
        return True

    def _forget_old(self) -> None:
        while len(self._jobs) > MAX_KEPT:
            oldest = next((id for id, job in self._jobs.items() if job.state == "done"), None)
            if oldest is None:
                return
            del self._jobs[oldest]

    def _subscribe(self, job: Job, wake: Callable[[], None]) -> None:
        with self._lock:
            job.waiters.add(wake)

    def _unsubscribe(self, job: Job, wake: Callable[[], None]) -> None:
        with self._lock:
            job.waiters.discard(wake)


class JobWait:
    """A held `GET /jobs/{id}?wait=S`: the Deferred the connection waits on."""

    def __init__(self, jobs: Jobs, job: Job, deadline: float) -> None:
        self.jobs = jobs
        self.job = job
        self.deadline = deadline
        self._wake: Callable[[], None] | None = None

    def subscribe(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self.jobs._subscribe(self.job, wake)

    def poll(self) -> Response | None:
        if self.job.state != "done" and monotonic() < self.deadline:
            return None
        self.cancel()
        return json_response(200, self.job.view())

    def cancel(self) -> None:
        if self._wake is not None:
            self.jobs._unsubscribe(self.job, self._wake)
            self._wake = None


def _seconds(body: bytes) -> float:
    """`{"seconds": s}`, 0 <= s <= MAX_SECONDS; 400 for anything else."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPError(400, 'the body must be JSON: {"seconds": s}') from None
    seconds = value.get("seconds") if isinstance(value, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise HTTPError(400, '"seconds" must be a number')
    if not 0 <= seconds <= MAX_SECONDS:
        raise HTTPError(400, f'"seconds" must be between 0 and {MAX_SECONDS:g}')
    return float(seconds)
