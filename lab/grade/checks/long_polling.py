"""Check bodies for exercise 08-long-polling (held answers on topics and jobs).

The student's ``topics.py`` and ``jobs.py`` take the place of the lab's; each check
serves the whole lab on them (``--io epoll``: one thread, so a poll that sleeps or spins
on the I/O thread stalls every connection) and runs a scenario. What is judged:

- a poll is *held* (no byte comes back) while there is nothing to say;
- a publish (or the job's end) answers it *promptly*: the best of three rounds within
  50 ms of the publish's own answer, every round within 0.5 s;
- at its deadline it is answered with an empty result, not an error;
- held polls cost nothing: the server answers others at once and burns no CPU;
- a client that leaves frees its waiter: ``GET /stats`` (the lab's count of broker
  subscribers, and ``Jobs.waiter_count()``) goes back to 0.
"""
from __future__ import annotations

import time

from .labserver import Pending, Scenario, ScenarioCheck
from .short_polling import post_job

__all__ = ["CHECKS"]

R_TOPIC = ('ARCHITECTURE.md: POST /topics/{t} -> 201 {"offset": n}; GET /topics/{t}?after=N -> '
           '{"messages": [{"offset","data","time"}], "next": n}: the messages after N, in order')
R_HELD = ("Long polling: GET /topics/{t}?after=N&wait=S is not answered until a message after N exists "
          "or S seconds pass")
R_WOKEN = ("Long polling: a publish wakes the held poll at once (the broker calls the waiter's wake(); "
           "no sleeping and re-checking)")
R_EMPTY = ("Long polling: at the deadline the poll is answered 200 with an empty list and next = N: an "
           "empty answer, not an error")
R_JOB = ("GET /jobs/{id}?wait=S is held until the job is done or S seconds pass, then answered with the "
         "job as it is (\"running\" at the deadline)")
R_FREE_SERVER = "Held polls wait without holding the I/O thread: the server answers other requests at once"
R_CPU = "A held poll costs no CPU while it waits: it is woken, it does not spin"
R_FREED = ("A held poll whose client leaves is cancelled: its waiter is removed (GET /stats counts "
           "topic_waiters and job_waiters)")

PROMPT, SLACK = 0.05, 0.5


def _topic(s: Scenario, name: str) -> str:
    return f"{name}-{s.rng.randrange(16**6):06x}"


def publish(s: Scenario, topic: str, data: bytes, id: str = "publish"):
    reply = s.request("POST", f"/topics/{topic}", data)
    s.expect_status(id, reply, (200, 201), R_TOPIC)
    return reply


def _messages(reply) -> list | None:
    body = reply.json()
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    return body["messages"]


def _held(s: Scenario, id: str, pending: Pending, seconds: float = 0.3) -> None:
    early = pending.anything_within(seconds)
    s.expect(id, early is None, R_HELD, expected=f"no byte for {seconds:g} s: the poll is held",
             got="" if early is None else f"(answered at once: {early[:120]!r})" if early else "(closed at once)",
             hint="With nothing to say yet, return a Deferred (a TopicWait/JobWait), not a response.",
             fatal=True)


def _stat(s: Scenario, key: str, want, within: float) -> int | None:
    """Poll /stats until stats[key] satisfies want(), or `within` seconds pass."""
    deadline = time.monotonic() + within
    value = None
    while True:
        value = s.stats().get(key)
        if isinstance(value, int) and want(value):
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# --- stage 1: the topic itself ---------------------------------------------------------


def publish_and_short_poll(s: Scenario) -> None:
    topic = _topic(s, "grade")
    datas = [f"message {i} {s.rng.randrange(10**6)}".encode() for i in range(3)]
    for i, data in enumerate(datas, 1):
        reply = s.request("POST", f"/topics/{topic}", data)
        s.expect_status(f"publish-{i}", reply, 201, R_TOPIC)
        body = reply.json()
        s.expect(f"publish-{i}-offset", isinstance(body, dict) and body.get("offset") == i, R_TOPIC,
                 expected=f'{{"offset": {i}}}', reply=reply)
    reply = s.request("GET", f"/topics/{topic}?after=0")
    s.expect_status("read-all", reply, 200, R_TOPIC)
    msgs = _messages(reply) or []
    got = [(m.get("offset"), m.get("data")) for m in msgs if isinstance(m, dict)]
    want = [(i, d.decode()) for i, d in enumerate(datas, 1)]
    body = reply.json() or {}
    s.expect("read-all-messages", got == want and body.get("next") == 3, R_TOPIC, reply=reply,
             expected=f'"messages": {want} (offset, data), "next": 3')
    reply = s.request("GET", f"/topics/{topic}?after=2")
    msgs = _messages(reply) or []
    got = [(m.get("offset"), m.get("data")) for m in msgs if isinstance(m, dict)]
    s.expect("read-after-2", got == want[2:] and (reply.json() or {}).get("next") == 3, R_TOPIC, reply=reply,
             expected=f'"messages": {want[2:]}, "next": 3')


# --- stage 2: held, and woken ----------------------------------------------------------


def topic_poll_held_until_publish(s: Scenario) -> None:
    topic = _topic(s, "held")
    lags = []
    for round in range(1, 4):
        poll = s.start("GET", f"/topics/{topic}?after={round - 1}&wait=5")
        _held(s, f"round-{round}-held", poll)
        data = f"wake up {round}".encode()
        pub = publish(s, topic, data, id=f"round-{round}-publish")
        reply = poll.finish(6.0)
        lag = reply.finished_at - pub.finished_at
        lags.append(lag)
        s.expect_status(f"round-{round}-answered", reply, 200, R_WOKEN)
        msgs = _messages(reply) or []
        s.expect(f"round-{round}-message", [m.get("data") for m in msgs if isinstance(m, dict)] == [data.decode()],
                 R_HELD, reply=reply, expected=f'"messages": [{{"offset": {round}, "data": "{data.decode()}", ...}}]')
        s.expect(f"round-{round}-in-time", lag <= SLACK, R_WOKEN, reply=reply,
                 expected=f"the answer within {SLACK:g} s of the publish",
                 got=f"(answered {lag * 1000:.0f} ms after the publish)",
                 hint="Subscribe to the broker (broker.subscribe(topic, wake)) and let the publish wake you.",
                 fatal=True)
    s.expect("woken-promptly", min(lags) <= PROMPT, R_WOKEN,
             expected=f"the best of 3 rounds within {PROMPT * 1000:.0f} ms of the publish",
             got="(" + ", ".join(f"{lag * 1000:.0f} ms" for lag in lags) + ")",
             hint="A poll that sleeps and re-checks is late by up to its sleep: be woken by the broker instead.")


def topic_poll_times_out_empty(s: Scenario) -> None:
    topic = _topic(s, "quiet")
    publish(s, topic, b"only one")
    poll = s.start("GET", f"/topics/{topic}?after=1&wait=0.6")
    reply = poll.finish(3.0)
    s.expect_status("answered-200", reply, 200, R_EMPTY)
    s.expect("held-until-deadline", 0.5 <= reply.elapsed <= 1.5, R_EMPTY, reply=reply,
             expected="the answer about 0.6 s after the request", got=f"(after {reply.elapsed:.2f} s)")
    body = reply.json() or {}
    s.expect("empty-answer", body.get("messages") == [] and body.get("next") == 1, R_EMPTY, reply=reply,
             expected='{"messages": [], "next": 1, ...}')


def job_poll_held_until_done(s: Scenario) -> None:
    jid, _ = post_job(s, 0.6)
    started = time.monotonic()
    poll = s.start("GET", f"/jobs/{jid}?wait=5")
    _held(s, "held", poll, 0.3)
    reply = poll.finish(6.0)
    elapsed = reply.finished_at - started
    s.expect_status("answered-200", reply, 200, R_JOB)
    body = reply.json() or {}
    s.expect("done", body.get("state") == "done", R_JOB, reply=reply, expected='{"state": "done", ...}')
    s.expect("when-done", 0.45 <= elapsed <= 0.6 + 0.3, R_JOB, reply=reply,
             expected="the answer as the 0.6 s job ends (within 0.3 s of its end)", got=f"(after {elapsed:.2f} s)",
             hint="The job's end must wake its waiters (call each wake()), not leave them to their deadline.")


def job_poll_times_out(s: Scenario) -> None:
    jid, _ = post_job(s, 5)
    reply = s.start("GET", f"/jobs/{jid}?wait=0.5").finish(3.0)
    s.expect_status("answered-200", reply, 200, R_JOB)
    s.expect("held-until-deadline", 0.45 <= reply.elapsed <= 1.5, R_JOB, reply=reply,
             expected="the answer about 0.5 s after the request", got=f"(after {reply.elapsed:.2f} s)")
    body = reply.json() or {}
    s.expect("still-running", body.get("state") == "running", R_JOB, reply=reply,
             expected='{"state": "running", ...}: at the deadline, the job as it is')


def held_polls_leave_the_server_free(s: Scenario) -> None:
    topic = _topic(s, "busy")
    polls = [s.start("GET", f"/topics/{topic}?after=0&wait=3") for _ in range(3)]
    time.sleep(0.1)
    for i in range(3):
        reply = s.request("GET", f"/topics/{topic}-other?after=0", timeout=4.0)
        s.expect(f"other-request-{i + 1}", reply.status == 200 and reply.elapsed < 0.3, R_FREE_SERVER, reply=reply,
                 expected="HTTP/1.1 200 within 0.3 s while 3 polls are held", got=f"(after {reply.elapsed:.2f} s)",
                 hint="Do not sleep or loop in the request handler: return a Deferred and let the I/O model wait.")
    for p in polls:
        p.close()


# --- stage 3: clients that leave -------------------------------------------------------


def _left_waiter_freed(s: Scenario, key: str, target: str) -> None:
    poll = s.start("GET", target)
    held = _stat(s, key, lambda v: v >= 1, 1.0)
    s.expect("waiter-counted", isinstance(held, int) and held >= 1, R_FREED,
             expected=f'GET /stats shows "{key}" >= 1 while the poll is held', got=f"({key}: {held})",
             hint="A held poll subscribes its wake (broker.subscribe / the job's waiters) and stays counted.",
             fatal=True)
    poll.close()
    left = _stat(s, key, lambda v: v == 0, 1.5)
    s.expect("waiter-freed", left == 0, R_FREED,
             expected=f'"{key}": 0 within 1.5 s of the client closing its connection', got=f"({key}: {left})",
             hint="The connection calls your Deferred's cancel() when the client leaves: unsubscribe there.")


def left_topic_waiter_freed(s: Scenario) -> None:
    _left_waiter_freed(s, "topic_waiters", f"/topics/{_topic(s, 'leaving')}?after=0&wait=20")


def left_job_waiter_freed(s: Scenario) -> None:
    jid, _ = post_job(s, 30)
    _left_waiter_freed(s, "job_waiters", f"/jobs/{jid}?wait=20")


CHECKS = {
    "publish-and-short-poll": ScenarioCheck(publish_and_short_poll),
    "topic-poll-held-until-publish": ScenarioCheck(topic_poll_held_until_publish),
    "topic-poll-times-out-empty": ScenarioCheck(topic_poll_times_out_empty),
    "job-poll-held-until-done": ScenarioCheck(job_poll_held_until_done),
    "job-poll-times-out": ScenarioCheck(job_poll_times_out),
    "held-polls-leave-the-server-free": ScenarioCheck(held_polls_leave_the_server_free),
    "left-topic-waiter-freed": ScenarioCheck(left_topic_waiter_freed),
    "left-job-waiter-freed": ScenarioCheck(left_job_waiter_freed),
}
