"""Short polling with a handle, and long polling for the end of the work.

This is the exercise's starter: the names, signatures and docstrings are the lab's;
each body raises NotImplementedError with a hint.
Exercise 07 is short polling (start, status, the clock); exercise 08 adds `?wait=S`
(JobWait, waiter_count, waking the waiters when a job ends): in 07 leave those
raising, in 08 start from your 07 `jobs.py`.

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
        raise NotImplementedError(
            'the job as JSON: {"id", "state", "progress", "result"} (round progress to 3 '
            'places)'
        )


class Jobs:
    """The `/jobs` routes and the clock thread that does the (simulated) work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Your state: the jobs by id (insertion order = age), what the clock needs (a heap of
        # due times, a Condition to wake it early), the number running. Nothing to raise here:
        # the lab builds this object when it starts.
        self._jobs: dict[str, Job] = {}

    # -- POST /jobs --------------------------------------------------------------------
    def start(self, request: Request, body: bytes, trailers: Headers) -> Response:
        raise NotImplementedError(
            "parse the body (_seconds), make a Job (secrets.token_hex(8); HTTPError 503 "
            "with Retry-After when MAX_RUNNING jobs run), get the work going off this "
            "thread (the clock, with a heapq of due times), and answer 202 (json_response) "
            "with the job's view and Location: /jobs/{id} - at once, without waiting for "
            "the job"
        )

    # -- GET /jobs/{id}[?wait=S] --------------------------------------------------------
    def status(self, request: Request, id: str) -> Response | JobWait:
        raise NotImplementedError(
            "404 (HTTPError) for an id you do not know (or that does not match ID); else "
            "200 with the job's view (json_response); with ?wait=S (exercise 08: "
            "query_params(split_target(request.target)[1]), query_number, at most "
            "LONG_POLL_MAX_WAIT) and the job running, return a JobWait instead"
        )

    def waiter_count(self) -> int:
        """Long polls held on jobs right now (a test reads it via /stats)."""
        raise NotImplementedError(
            "exercise 08: the number of JobWaits subscribed right now, over every job"
        )

    # -- the clock thread: the work, off the I/O path ------------------------------------
    def _ensure_clock(self) -> None:
        raise NotImplementedError(
            "start the clock thread (a daemon thread running _run_clock), once"
        )

    def _run_clock(self) -> None:
        raise NotImplementedError(
            "the clock thread's loop: wait (on a Condition) until a job is due, advance it, "
            "wake the waiters of jobs that just finished (outside the lock), repeat"
        )

    def _advance(self, job: Job, now: float) -> bool:
        """Move `job` on; True when it has just finished."""
        raise NotImplementedError(
            'progress = elapsed / seconds while running, due again a TICK later; at the end '
            'progress 1, result {"slept": seconds}, state "done" set last; True when it has '
            'just finished'
        )

    def _forget_old(self) -> None:
        raise NotImplementedError(
            "keep at most MAX_KEPT jobs: forget the oldest finished ones"
        )

    def _subscribe(self, job: Job, wake: Callable[[], None]) -> None:
        raise NotImplementedError(
            "exercise 08: add `wake` to the job's waiters, under the lock"
        )

    def _unsubscribe(self, job: Job, wake: Callable[[], None]) -> None:
        raise NotImplementedError(
            "exercise 08: remove `wake` from the job's waiters, under the lock"
        )


class JobWait:
    """A held `GET /jobs/{id}?wait=S`: the Deferred the connection waits on."""

    def __init__(self, jobs: Jobs, job: Job, deadline: float) -> None:
        self.jobs = jobs
        self.job = job
        self.deadline = deadline
        self._wake: Callable[[], None] | None = None

    def subscribe(self, wake: Callable[[], None]) -> None:
        raise NotImplementedError(
            "exercise 08: remember `wake` and subscribe it to the job (Jobs._subscribe)"
        )

    def poll(self) -> Response | None:
        raise NotImplementedError(
            "exercise 08: None while the job runs and the deadline is ahead; else cancel() "
            "and answer 200"
        )

    def cancel(self) -> None:
        raise NotImplementedError(
            "exercise 08: unsubscribe your wake, once (cancel may come after poll already "
            "did it)"
        )


def _seconds(body: bytes) -> float:
    """`{"seconds": s}`, 0 <= s <= MAX_SECONDS; 400 for anything else."""
    raise NotImplementedError(
        'json.loads the body; 400 unless it is an object whose "seconds" is a number (not a '
        'bool) between 0 and MAX_SECONDS'
    )
