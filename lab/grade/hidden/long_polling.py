"""Hidden checks of exercise 08-long-polling: never shipped in the student kit."""
from __future__ import annotations

import time

from ..checks.labserver import Scenario, ScenarioCheck
from ..checks.long_polling import R_CPU, R_WOKEN, SLACK, _held, _messages, _topic, publish
from ..checks.short_polling import post_job


def one_publish_wakes_every_waiter(s: Scenario) -> None:
    topic = _topic(s, "fanout")
    polls = [s.start("GET", f"/topics/{topic}?after=0&wait=5") for _ in range(5)]
    for i, p in enumerate(polls):
        _held(s, f"poll-{i + 1}-held", p, 0.1 if i else 0.3)
    pub = publish(s, topic, b"to everyone")
    for i, p in enumerate(polls):
        reply = p.finish(6.0)
        lag = reply.finished_at - pub.finished_at
        ok = reply.status == 200 and [m.get("data") for m in _messages(reply) or [] if isinstance(m, dict)] == ["to everyone"]
        s.expect(f"poll-{i + 1}-woken", ok and lag <= SLACK, R_WOKEN, reply=reply,
                 expected=f'200 {{"messages": [{{"offset": 1, "data": "to everyone", ...}}]}} within {SLACK:g} s',
                 got=f"(answered {lag * 1000:.0f} ms after the publish)")


def idle_waiters_cost_no_cpu(s: Scenario) -> None:
    topic = _topic(s, "idle")
    jid, _ = post_job(s, 30)
    polls = [s.start("GET", f"/topics/{topic}?after=0&wait=5") for _ in range(4)]
    polls.append(s.start("GET", f"/jobs/{jid}?wait=5"))
    time.sleep(0.3)
    before = s.server_cpu()
    time.sleep(1.0)
    used = s.server_cpu() - before
    s.expect("cpu-while-waiting", used < 0.25, R_CPU, expected="under 0.25 s of CPU in 1 s with 5 polls held",
             got=f"({used:.2f} s of CPU)", hint="A waiter that loops (even on another thread) burns a core: "
             "wait on the wake-up instead.")
    for p in polls:
        p.close()


CHECKS = {
    "one-publish-wakes-every-waiter": ScenarioCheck(one_publish_wakes_every_waiter),
    "idle-waiters-cost-no-cpu": ScenarioCheck(idle_waiters_cost_no_cpu),
}
