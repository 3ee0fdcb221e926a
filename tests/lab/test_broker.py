"""The broker: offsets, retention, wake-ups (no sockets)."""
from __future__ import annotations

import threading

import pytest

from lab.broker import Broker


def test_offsets_start_at_1_and_read_after_is_exclusive():
    broker = Broker()
    assert [broker.publish("t", b"m%d" % i).offset for i in range(3)] == [1, 2, 3]
    batch = broker.read("t", after=1)
    assert [m.data for m in batch.messages] == [b"m1", b"m2"]
    assert batch.next == 3 and not batch.pruned


def test_read_of_an_unknown_or_caught_up_topic_is_empty_and_keeps_the_cursor():
    broker = Broker()
    assert broker.read("nothing", after=0).messages == []
    assert broker.read("nothing", after=0).next == 0
    broker.publish("t", b"x")
    batch = broker.read("t", after=1)
    assert batch.messages == [] and batch.next == 1


def test_limit_caps_a_batch_and_next_continues_from_it():
    broker = Broker()
    for i in range(10):
        broker.publish("t", b"%d" % i)
    first = broker.read("t", after=0, limit=4)
    assert [m.offset for m in first.messages] == [1, 2, 3, 4]
    second = broker.read("t", after=first.next, limit=100)
    assert [m.offset for m in second.messages] == [5, 6, 7, 8, 9, 10]


def test_retention_by_count_drops_the_oldest_and_reports_pruning():
    broker = Broker(max_messages=3)
    for i in range(5):
        broker.publish("t", b"%d" % i)
    batch = broker.read("t", after=0)
    assert [m.offset for m in batch.messages] == [3, 4, 5]
    assert batch.oldest == 3 and batch.pruned
    assert not broker.read("t", after=2).pruned


def test_retention_by_bytes_keeps_at_least_the_newest_message():
    broker = Broker(max_bytes=10)
    broker.publish("t", b"a" * 6)
    broker.publish("t", b"b" * 6)
    assert [m.data for m in broker.read("t").messages] == [b"b" * 6]
    broker.publish("t", b"c" * 50)  # larger than the limit on its own
    assert [m.data for m in broker.read("t").messages] == [b"c" * 50]


def test_publish_wakes_every_subscriber_of_its_topic_only():
    broker = Broker()
    woken: list[str] = []
    broker.subscribe("a", lambda: woken.append("a1"))
    broker.subscribe("a", lambda: woken.append("a2"))
    broker.subscribe("b", lambda: woken.append("b"))
    broker.publish("a", b"x")
    assert sorted(woken) == ["a1", "a2"]


def test_unsubscribe_frees_the_waiter():
    broker = Broker()
    subs = [broker.subscribe("t", lambda: None) for _ in range(5)]
    assert broker.waiter_count("t") == 5 and broker.waiter_count() == 5
    for sub in subs:
        broker.unsubscribe(sub)
    assert broker.waiter_count() == 0


def test_a_wake_may_publish_again_without_deadlock():
    broker = Broker()
    broker.subscribe("a", lambda: broker.read("a"))  # a wake that re-enters the broker
    done = threading.Event()
    threading.Thread(target=lambda: (broker.publish("a", b"x"), done.set())).start()
    assert done.wait(2)


def test_concurrent_publishers_get_distinct_contiguous_offsets():
    broker = Broker()
    offsets: list[int] = []
    lock = threading.Lock()

    def publish_many():
        for _ in range(200):
            offset = broker.publish("t", b"x").offset
            with lock:
                offsets.append(offset)

    threads = [threading.Thread(target=publish_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(offsets) == list(range(1, 801))


@pytest.mark.parametrize("kwargs", [{"max_messages": 0}, {"max_bytes": -1}])
def test_retention_limits_must_be_positive(kwargs):
    with pytest.raises(ValueError):
        Broker(**kwargs)
