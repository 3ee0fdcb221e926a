"""asyncio/uvloop: the connections' deadlines wait in one heap behind one loop timer.

A fake loop records the one timer; a fake clock says when it is. Each peer is told
(`on_timer`) exactly when its deadline comes, as a loop timer of its own would have.
"""
from __future__ import annotations

import pytest

from lab.io import streams
from lab.io.streams import _Deadlines


class FakeLoop:
    def __init__(self) -> None:
        self.timers: list[FakeTimer] = []

    def call_later(self, delay: float, callback) -> FakeTimer:
        timer = FakeTimer(delay, callback)
        self.timers.append(timer)
        return timer

    @property
    def armed(self) -> list[FakeTimer]:
        return [t for t in self.timers if not t.cancelled]


class FakeTimer:
    def __init__(self, delay: float, callback) -> None:
        self.delay, self.callback, self.cancelled = delay, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class Peer:
    def __init__(self, name: str, fired: list[str]) -> None:
        self.name, self.fired = name, fired

    def on_timer(self) -> None:
        self.fired.append(self.name)


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(streams, "monotonic", lambda: now[0])
    return now


def fire(loop: FakeLoop, clock: list[float]) -> None:
    [timer] = loop.armed
    clock[0] += timer.delay
    timer.cancelled = True  # it ran
    timer.callback()


def test_one_loop_timer_for_the_earliest_and_each_peer_told_in_order(clock) -> None:
    loop, fired = FakeLoop(), []
    deadlines = _Deadlines(loop)
    deadlines.add(130.0, Peer("b", fired))
    deadlines.add(110.0, Peer("a", fired))
    deadlines.add(150.0, Peer("c", fired))
    assert [t.delay for t in loop.armed] == [10.0]  # one timer, for the earliest
    fire(loop, clock)
    assert fired == ["a"] and [t.delay for t in loop.armed] == [20.0]
    fire(loop, clock)
    fire(loop, clock)
    assert fired == ["a", "b", "c"] and loop.armed == []


def test_a_cancelled_deadline_tells_nobody(clock) -> None:
    loop, fired = FakeLoop(), []
    deadlines = _Deadlines(loop)
    entry = deadlines.add(110.0, Peer("gone", fired))
    deadlines.add(120.0, Peer("kept", fired))
    entry.cancel()
    entry.cancel()  # twice is harmless
    fire(loop, clock)  # the timer was set for the cancelled one: nothing to tell
    assert fired == [] and deadlines.cancelled == 0
    fire(loop, clock)
    assert fired == ["kept"]


def test_entries_due_together_are_all_told_and_one_may_add_another(clock) -> None:
    loop, fired = FakeLoop(), []
    deadlines = _Deadlines(loop)

    class Rearming(Peer):
        def on_timer(self) -> None:
            super().on_timer()
            deadlines.add(clock[0] + 5, Peer("again", fired))

    deadlines.add(110.0, Rearming("x", fired))
    deadlines.add(110.0, Peer("y", fired))
    fire(loop, clock)
    assert sorted(fired) == ["x", "y"] and [t.delay for t in loop.armed] == [5.0]
    fire(loop, clock)
    assert fired[-1] == "again"


def test_a_timer_that_fires_early_is_set_again_for_the_rest(clock) -> None:
    loop, fired = FakeLoop(), []
    deadlines = _Deadlines(loop)
    deadlines.add(110.0, Peer("a", fired))
    [timer] = loop.armed
    clock[0] += 9.999  # libuv rounds timers to milliseconds
    timer.cancelled = True
    timer.callback()
    assert fired == [] and [round(t.delay, 3) for t in loop.armed] == [0.001]


def test_many_cancelled_entries_are_dropped_from_the_heap(clock) -> None:
    loop, fired = FakeLoop(), []
    deadlines = _Deadlines(loop)
    entries = [deadlines.add(200.0 + i, Peer(str(i), fired)) for i in range(200)]
    for entry in entries[:150]:
        entry.cancel()
    assert len(deadlines.heap) < 200 and deadlines.cancelled < 150
    assert sorted(e.peer.name for e in deadlines.heap if e.peer) == sorted(str(i) for i in range(150, 200))
