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
- **Long polling** (`?wait=S`, exercise 08): the server holds the answer until the job
  is done or S seconds pass, whichever comes first; at the deadline it answers the
  current state (state "running", its progress), not an error, and the client asks
  again. S is clamped to `LONG_POLL_MAX_WAIT` (60 s).

The work runs off the I/O path, so the server keeps answering meanwhile: something
other than the request handler (one scheduler thread, or a thread per job) advances
every running job (progress = elapsed / seconds) and marks it done at the end. A "job"
here is simulated: it just takes `seconds` seconds; its result is `{"slept": seconds}`.

Job states: "running" -> "done" (with `result`). Ids are `secrets.token_hex(8)` and
validated by `ID`.

This is the exercise's starter: the names and signatures are the lab's; each body
raises NotImplementedError with a hint. `lab/app.py` has `json_response`,
`lab/router.py` has `query_params` and `split_target`, `lab/patterns/common.py` has
`query_number` and `LONG_POLL_MAX_WAIT`; errors are `protocols.errors.HTTPError(status,
message)`, which the lab answers with that status.
"""
from __future__ import annotations

import heapq  # noqa: F401 - the reference keeps its due times in a heap
import json  # noqa: F401
import re
import secrets  # noqa: F401
import threading  # noqa: F401
from time import monotonic  # noqa: F401
from typing import Callable

from protocols.errors import HTTPError  # noqa: F401
from protocols.http1 import Headers, Request

from ..app import Response, json_response  # noqa: F401
from ..router import query_params, split_target  # noqa: F401
from .common import LONG_POLL_MAX_WAIT, query_number  # noqa: F401

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
            'the job as JSON: {"id", "state", "progress", "result"} (round progress to 3 places)')


class Jobs:
    """The `/jobs` routes and the clock thread that does the (simulated) work."""

    def __init__(self) -> None:
        # Your state: the jobs by id, a lock (the clock thread and the I/O threads share
        # them), and whatever your clock needs. Nothing to raise here: the lab builds
        # this object when it starts.
        pass

    # -- POST /jobs --------------------------------------------------------------------
    def start(self, request: Request, body: bytes, trailers: Headers) -> Response:
        raise NotImplementedError(
            "parse the body (see _seconds), make a Job, get the work going off this thread, and answer "
            "202 with the job's view and a Location: /jobs/{id} header - at once, without waiting")

    # -- GET /jobs/{id}[?wait=S] --------------------------------------------------------
    def status(self, request: Request, id: str) -> Response | JobWait:
        raise NotImplementedError(
            "404 for an id you do not know (or that does not match ID); else 200 with the job's view. "
            "(?wait=S is exercise 08: return a JobWait while the job runs)")

    def waiter_count(self) -> int:
        """Long polls held on jobs right now (a test reads it via /stats)."""
        raise NotImplementedError("exercise 08: the number of JobWaits subscribed right now (0 until then)")

    # -- the clock: the work, off the I/O path -------------------------------------------
    def _ensure_clock(self) -> None:
        raise NotImplementedError("start the thread that advances jobs, once (a daemon thread)")

    def _run_clock(self) -> None:
        raise NotImplementedError(
            "the clock thread's loop: sleep until a job is due, advance it, repeat (a Condition lets "
            "start() wake it early)")

    def _advance(self, job: Job, now: float) -> bool:
        """Move `job` on; True when it has just finished."""
        raise NotImplementedError(
            'progress = elapsed / seconds while running; at the end progress 1, result {"slept": seconds}, '
            'state "done" (set the state last: a reader that sees "done" must see the result)')


class JobWait:
    """A held `GET /jobs/{id}?wait=S`: the Deferred the connection waits on."""

    # Long polling is exercise 08: in exercise 07 leave these three raising.

    def __init__(self, jobs: Jobs, job: Job, deadline: float) -> None:
        self.jobs = jobs
        self.job = job
        self.deadline = deadline
        self._wake: Callable[[], None] | None = None

    def subscribe(self, wake: Callable[[], None]) -> None:
        raise NotImplementedError("exercise 08: remember `wake` and add it to the job's waiters")

    def poll(self) -> Response | None:
        raise NotImplementedError("exercise 08: None while running and before the deadline; else cancel() and answer")

    def cancel(self) -> None:
        raise NotImplementedError("exercise 08: take your wake out of the job's waiters (the client left)")


def _seconds(body: bytes) -> float:
    """`{"seconds": s}`, 0 <= s <= MAX_SECONDS; 400 for anything else."""
    raise NotImplementedError(
        'json.loads the body; 400 unless it is an object whose "seconds" is a number (not a bool) '
        "between 0 and MAX_SECONDS")
