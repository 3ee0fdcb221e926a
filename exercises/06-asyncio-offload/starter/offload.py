"""Moving blocking work off the I/O path: the "readFile with a callback" lesson.

Exercise 06 starter: this file takes the place of the lab's `lab/offload.py`. Keep the
names and signatures; replace each `raise NotImplementedError(...)`.

A handler that calls `time.sleep(0.02)` (or reads a slow file) inline stalls every
client of a one-thread model (`epoll`, `asyncio`, `uvloop`) for 20 ms. `offload(fn)`
runs `fn` on a worker thread instead and answers with a `Deferred`: the I/O thread
goes on serving others, and the worker wakes the connection when `fn` returns.

The pool is sized for blocking calls, not CPU: `run_in_executor(None, ...)` would give
min(32, cpus + 4) = 6 threads on this machine, ~300 req/s for a 20 ms call.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from .app import Response, Wake

__all__ = ["offload", "Offloaded"]

_executor: ThreadPoolExecutor | None = None
WORKERS = 64


def _pool() -> ThreadPoolExecutor:
    raise NotImplementedError(
        "_pool: one ThreadPoolExecutor(WORKERS, thread_name_prefix='offload'), made on "
        "first use and kept in the module global"
    )


class Offloaded:
    """A Deferred whose answer a worker thread computes."""

    deadline = None  # no timeout of its own: the work ends when it ends

    def __init__(self, future: Future[Response]) -> None:
        self.future = future

    def subscribe(self, wake: Wake) -> None:
        raise NotImplementedError(
            "subscribe: when the future is done (add_done_callback, on the worker's "
            "thread), call wake(): the connection's I/O model then ticks it"
        )

    def poll(self) -> Response | None:
        raise NotImplementedError(
            "poll: the future's Response once it is done, None before"
        )

    def cancel(self) -> None:
        raise NotImplementedError("cancel: cancel the future (the client left)")


def offload(fn: Callable[[], Response]) -> Offloaded:
    raise NotImplementedError(
        "offload: submit fn to _pool() and return an Offloaded for the future - never call "
        "fn() here, on the I/O thread"
    )
