"""Exercise 05 (I/O models) through the whole grader: the reference scores 100% with any
seed, the untouched starter 0, and the mutation matrix: a serial server fails every
concurrency check, a thread per connection fails the model checks (/proc/PID/task);
every check has a killing mutant."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .grade_helpers import leftovers, mutant_of, reference_of, starter_of

EX05 = find_exercise("05-io-models")
P, E = "pool.py", "epoll.py"

SERIAL_AS_EPOLL = '''

from .sync import SyncServer as _SyncServer


class EpollServer(_SyncServer):  # submitted as epoll: one connection at a time
    io_name = "epoll"
'''
THREADS_AS_EPOLL = '''

import threading as _threading

from .sync import SyncServer as _SyncServer


class EpollServer(_SyncServer):  # submitted as epoll: a thread per connection
    io_name = "epoll"

    def dispatch(self, sock):
        _threading.Thread(target=self.handle, args=(sock,), daemon=True).start()
'''
POOL_CONCURRENCY = {"pool-concurrent-connections", "pool-stalled-client"}
EPOLL_CONCURRENCY = {"epoll-concurrent-connections", "epoll-stalled-client"}

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "serial-accept-loop": (
        [(P, "        self._queue.put(sock)", "        self.handle(sock)  # serial: the accepting thread serves it")],
        # pool-bounded passes: a serial server is bounded too (one thread), and serves the
        # queued connection once the stalled ones leave.
        POOL_CONCURRENCY,
    ),
    "thread-per-connection-as-pool": (
        [(P, "        self._queue.put(sock)", "        threading.Thread(target=self.handle, args=(sock,), daemon=True).start()")],
        {"pool-bounded"},
    ),
    "workers-serve-one-connection-each": (
        [(P, "        while (sock := self._queue.get()) is not None:\n            self.handle(sock)",
          "        if (sock := self._queue.get()) is not None:\n            self.handle(sock)")],
        {"pool-bounded", "pool-many-clients"},
    ),
    "pool-drops-connections": (
        [(P, "        while (sock := self._queue.get()) is not None:\n            self.handle(sock)",
          "        while (sock := self._queue.get()) is not None:\n            sock.close()")],
        {"pool-serves", "pool-bounded", "pool-many-clients"} | POOL_CONCURRENCY,
    ),
    # ... and its 20 idle keep-alive clients are never served: the first one holds it.
    "serial-server-as-epoll": ([], EPOLL_CONCURRENCY | {"epoll-one-thread"}),
    "thread-per-connection-as-epoll": ([], {"epoll-one-thread"}),
    "epoll-never-reads": (
        [(E, "            self.selector.register(sock, selectors.EVENT_READ, peer)\n", "")],
        {"epoll-serves", "epoll-one-thread", "epoll-many-clients"} | EPOLL_CONCURRENCY,
    ),
}
APPENDED = {"serial-server-as-epoll": SERIAL_AS_EPOLL, "thread-per-connection-as-epoll": THREADS_AS_EPOLL}
FAST = ("serial-accept-loop", "thread-per-connection-as-epoll")


def _mutant(tmp_path, name):
    sub = mutant_of(EX05, tmp_path / name, MUTANTS[name][0])
    if name in APPENDED:
        with open(sub / E, "a") as f:
            f.write(APPENDED[name])
    return sub


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
def test_reference_scores_full_marks(tmp_path, seed):
    res = grade(EX05, reference_of(EX05, tmp_path / "ref"), seed=seed)
    assert {c["name"]: (c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"} == {}
    assert res["score"] == res["max_score"] == EX05.max_score


def test_untouched_starter_scores_zero(tmp_path):
    res = grade(EX05, starter_of(EX05, tmp_path / "starter"), seed=7)
    assert res["score"] == 0
    assert {c["status"] for c in res["checks"] if c["stage"] == "pool"} <= {"failed", "crashed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "pool")


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    res = grade(EX05, _mutant(tmp_path, name), seed=11, keep_going=True, timeout=15)
    bad = {c["name"]: c["status"] for c in res["checks"] if c["status"] != "passed"}
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    assert set(bad) == MUTANTS[name][1]


def test_a_serial_server_fails_every_concurrency_check():
    concurrency = {c.name for c in EX05.all_checks if c.category == "concurrency"}
    serial = MUTANTS["serial-accept-loop"][1] | MUTANTS["serial-server-as-epoll"][1]
    # The 'many clients' checks send Connection: close: a serial server passes them, slowly.
    assert concurrency - {"pool-many-clients", "epoll-many-clients"} <= serial


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, declared in MUTANTS.values()))
    assert {c.name for c in EX05.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name in MUTANTS:
        _mutant(tmp_path, name)
