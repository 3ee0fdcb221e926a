"""Exercise 06 (asyncio streams, blocking work off the loop) through the whole grader:
the reference scores 100% with any seed, the untouched starter 0, and the mutation
matrix: an offload that runs inline fails the timing checks, a serial or threaded
server fails the streams checks; every check has a killing mutant."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .grade_helpers import leftovers, mutant_of, reference_of, starter_of

EX06 = find_exercise("06-asyncio-offload")
S, O = "streams.py", "offload.py"

SERIAL_STREAMS = '''

_serial_lock = None
_concurrent_serve = StreamsServer._serve


async def _serial_serve(self, reader, writer):  # one connection at a time
    global _serial_lock
    if _serial_lock is None:
        _serial_lock = asyncio.Lock()
    async with _serial_lock:
        await _concurrent_serve(self, reader, writer)


StreamsServer._serve = _serial_serve
'''
THREADS_AS_ASYNCIO = '''

import threading as _threading

from .sync import SyncServer as _SyncServer


class StreamsServer(_SyncServer):  # submitted as asyncio: a thread per connection
    io_name = "asyncio"

    def __init__(self, app, config, *, use_uvloop=False):
        super().__init__(app, config)

    def dispatch(self, sock):
        _threading.Thread(target=self.handle, args=(sock,), daemon=True).start()
'''
OFFLOAD = {"offload-concurrent-work", "offload-keeps-loop-responsive"}

# name: (edits, text appended to a file or None, the checks it must fail, and no other)
MUTANTS = {
    "offload-runs-inline": (
        [(O, "    return Offloaded(_pool().submit(fn))",
          "    done = Future()\n    done.set_result(fn())  # inline: on the I/O thread\n    return Offloaded(done)")],
        None, OFFLOAD,
    ),
    "one-worker-thread": (
        [(O, "WORKERS = 64", "WORKERS = 1")],
        None, {"offload-concurrent-work"},
    ),
    "worker-never-wakes-the-loop": (
        [(O, "        self.future.add_done_callback(lambda _: wake())", "        pass")],
        None, OFFLOAD | {"offload-pipelined-in-order", "offload-many-on-one-connection"},
    ),
    "serial-streams": ([], (S, SERIAL_STREAMS), {"asyncio-concurrent-connections", "asyncio-stalled-client",
                                                 "asyncio-one-thread"} | OFFLOAD),
    "thread-per-connection-as-asyncio": ([], (S, THREADS_AS_ASYNCIO), {"asyncio-one-thread"}),
    "closes-after-one-read": (
        [(S, "                peer.send(conn.receive_data(data))\n",
          "                peer.send(conn.receive_data(data))\n                break\n")],
        # the connection ends before an offloaded answer can be sent: it is cancelled
        None, {"asyncio-serves", "offload-pipelined-in-order", "offload-many-on-one-connection"} | OFFLOAD,
    ),
}
FAST = ("offload-runs-inline",)


def _mutant(tmp_path, name):
    edits, appended, _ = MUTANTS[name]
    sub = mutant_of(EX06, tmp_path / name, edits)
    if appended:
        with open(sub / appended[0], "a") as f:
            f.write(appended[1])
    return sub


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
def test_reference_scores_full_marks(tmp_path, seed):
    res = grade(EX06, reference_of(EX06, tmp_path / "ref"), seed=seed)
    assert {c["name"]: (c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"} == {}
    assert res["score"] == res["max_score"] == EX06.max_score


def test_untouched_starter_scores_zero(tmp_path):
    res = grade(EX06, starter_of(EX06, tmp_path / "starter"), seed=7)
    assert res["score"] == 0
    assert {c["status"] for c in res["checks"] if c["stage"] == "streams"} <= {"failed", "crashed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "streams")


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    res = grade(EX06, _mutant(tmp_path, name), seed=11, keep_going=True, timeout=20)
    bad = {c["name"]: c["status"] for c in res["checks"] if c["status"] != "passed"}
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    assert set(bad) == MUTANTS[name][2]


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, _, declared in MUTANTS.values()))
    assert {c.name for c in EX06.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name in MUTANTS:
        _mutant(tmp_path, name)
