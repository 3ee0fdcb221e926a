"""Moving blocking work off the I/O path: the "readFile with a callback" lesson.

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
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="offload")
    return _executor


class Offloaded:
    """A Deferred whose answer a worker thread computes."""

    deadline = None  # no timeout of its own: the work ends when it ends

    def __init__(self, future: Future[Response]) -> None:
        self.future = future

    def subscribe(self, wake: Wake) -> None:
        self.future.add_done_callback(lambda _: wake())

    def poll(self) -> Response | None:
        return self.future.result() if self.future.done() else None

    def cancel(self) -> None:
        self.future.cancel()


def offload(fn: Callable[[], Response]) -> Offloaded:
    return Offloaded(_pool().submit(fn))
