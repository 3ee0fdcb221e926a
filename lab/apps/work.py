"""`GET /work?ms=N[&offload=1]`: a request that does N ms of blocking work.

The seed's "readFile" example, made measurable: the benchmark's blocking-work scenario
(issue 3) calls it to show what one blocking call per request does to each I/O model.

- `GET /work?ms=20` blocks the thread that handles the request in `time.sleep`: a
  thread per connection or a pool of threads keeps serving others, while `blocking`,
  `epoll`, `asyncio` and `uvloop` stall every connection for those 20 ms.
- `GET /work?ms=20&offload=1` moves the same call to a pool of worker threads
  (`--workers`, the same option the `pool` model uses) and answers with a `Deferred`:
  the I/O model goes on serving other connections, and the worker's `wake()` brings it
  back when the call is done. This is `loop.run_in_executor` written for every model.

Either way the answer is `200`, `text/plain`, `slept N ms (inline|offload)`.
"""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

from protocols.errors import HTTPError
from protocols.http1 import Request

from ..app import Answer, Response, Wake, text_response
from ..config import ServerConfig
from ..router import query_params, split_target

__all__ = ["make_work", "blocking_call", "MAX_MS"]

# A benchmark asks for tens of milliseconds; ten seconds bounds what a stray URL can hold.
MAX_MS = 10_000


def blocking_call(ms: float) -> None:
    """The work itself: the thread that runs it can do nothing else for `ms` ms."""
    time.sleep(ms / 1000)


def _answer(ms: float, how: str) -> Response:
    return text_response(200, f"slept {ms:g} ms ({how})")


class Offloaded:
    """A `Deferred` whose answer is ready when the worker thread's future is done."""

    def __init__(self, future: Future, ms: float) -> None:
        self.deadline: float | None = None  # the call ends by itself
        self._future = future
        self._ms = ms
        self._cancelled = False

    def subscribe(self, wake: Wake) -> None:
        # Runs `wake` on the worker thread when the call finishes (at once if it already has).
        self._future.add_done_callback(lambda _: self._wake(wake))

    def _wake(self, wake: Wake) -> None:
        if self._cancelled:
            return  # the client went away: nobody to wake
        try:
            wake()
        except (OSError, RuntimeError):
            # The server stopped while the call ran (its eventfd or event loop is closed):
            # the answer has nowhere to go.
            pass

    def poll(self) -> Response | None:
        return _answer(self._ms, "offload") if self._future.done() else None

    def cancel(self) -> None:
        self._cancelled = True
        self._future.cancel()  # a call not started yet is dropped; a running one finishes


def make_work(config: ServerConfig):
    """The `/work` handler, with its own pool of `config.workers` threads for offloading.

    `ThreadPoolExecutor` starts its threads on demand, so a server that is never asked
    to offload never pays for them."""
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="lab-work")

    def work(request: Request) -> Answer:
        params = query_params(split_target(request.target)[1])
        try:
            ms = float(params.get("ms", "20"))
        except ValueError:
            raise HTTPError(400, "ms must be a number of milliseconds") from None
        if not 0 <= ms <= MAX_MS:
            raise HTTPError(400, f"ms must be between 0 and {MAX_MS}")
        if params.get("offload", "0") in ("", "0", "false"):
            blocking_call(ms)
            return _answer(ms, "inline")
        return Offloaded(executor.submit(blocking_call, ms), ms)

    return work
