"""Exercise 08 (long polling) through the whole grader: the reference (the lab's own
jobs.py and topics.py) scores 100% repeatedly, the untouched starter 0, and the mutation matrix: each
known-bad variant of the reference fails exactly the checks declared for it, and every
check has a mutant that kills it."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .exercise_helpers import failing_checks, mutant, reference, starter
from .grade_helpers import leftovers

EX = find_exercise("08-long-polling")
J, T = "jobs.py", "topics.py"

SPIN = (
    "        self._subscription = self.broker.subscribe(self.topic, wake)\n"
    "        spin = lambda: [None for _ in iter(lambda: self._subscription is not None and not "
    "self.broker.read(self.topic, self.after, 1).messages, False)]\n"
    "        __import__(\"threading\").Thread(target=spin, daemon=True).start()\n"
)
SLEEP_POLL = (
    "        batch = self.broker.read(topic, after, limit)\n"
    "        until = monotonic() + wait\n"
    "        while not batch.messages and monotonic() < until:\n"
    "            __import__(\"time\").sleep(0.01)\n"
    "            batch = self.broker.read(topic, after, limit)\n"
)

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "publish-answers-200": (
        [(T, "return json_response(201, {\"offset\"", "return json_response(200, {\"offset\"")],
        {"publish-and-short-poll"},
    ),
    "topic-poll-answers-immediately": (
        [(T, "if batch.messages or not wait or after > self.broker.last_offset(topic):", "if True:")],
        {"topic-poll-held-until-publish", "topic-poll-times-out-empty", "one-publish-wakes-every-waiter",
         "left-topic-waiter-freed"},
    ),
    "job-poll-answers-immediately": (
        [(J, 'if job.state == "done" or not wait:', "if True:")],
        {"job-poll-held-until-done", "job-poll-times-out", "left-job-waiter-freed"},
    ),
    "not-subscribed-answers-at-deadline": (
        [(T, "        self._subscription = self.broker.subscribe(self.topic, wake)\n", "        pass\n")],
        {"topic-poll-held-until-publish", "one-publish-wakes-every-waiter", "left-topic-waiter-freed"},
    ),
    "job-end-wakes-nobody": (
        [(J, "                        wakes += job.waiters", "                        pass")],
        {"job-poll-held-until-done"},
    ),
    "sleep-poll-on-the-io-thread": (
        [(T, "        batch = self.broker.read(topic, after, limit)\n", SLEEP_POLL)],
        {"topic-poll-held-until-publish", "held-polls-leave-the-server-free", "one-publish-wakes-every-waiter",
         "left-topic-waiter-freed"},
    ),
    "busy-wait-on-a-thread": (
        [(T, "        self._subscription = self.broker.subscribe(self.topic, wake)\n", SPIN)],
        {"idle-waiters-cost-no-cpu"},
    ),
    "topic-waiter-never-freed": (
        [(T, "        if self._subscription is not None:\n            self.broker.unsubscribe", 
          "        if False:\n            self.broker.unsubscribe")],
        {"left-topic-waiter-freed"},
    ),
    "job-waiter-never-freed": (
        [(J, "        if self._wake is not None:\n            self.jobs._unsubscribe", 
          "        if False:\n            self.jobs._unsubscribe")],
        {"left-job-waiter-freed"},
    ),
}
FAST = ("publish-answers-200", "topic-waiter-never-freed")


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


# Timing checks must not be flaky: ten seeds, all but the first `slow`.
@pytest.mark.parametrize("seed", [1, *(pytest.param(n, marks=pytest.mark.slow) for n in range(2, 11))])
def test_reference_scores_full_marks(tmp_path, seed):
    res = grade(EX, reference(EX, tmp_path / "ref"), seed=seed)
    failed = {c["name"]: (c["status"], c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"}
    assert failed == {}
    assert res["score"] == res["max_score"] == EX.max_score


def test_untouched_starter_scores_zero(tmp_path):
    res = grade(EX, starter(EX, tmp_path / "starter"), seed=1)
    assert res["score"] == 0
    assert {c["status"] for c in res["checks"] if c["stage"] == "topics"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "topics")


def test_starter_keeps_the_reference_names():
    import ast

    from .exercise_helpers import module_path

    def names(path):
        # Module-level and class-level names; private helpers are the student's to choose.
        tree = ast.parse(path.read_text())
        out = set()
        for node in tree.body:
            body = node.body if isinstance(node, ast.ClassDef) else []
            for n in (node, *body):
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_"):
                    out.add(n.name)
        return out

    for file, module in EX.modules():
        assert names(module_path(module)) <= names(EX.directory / "starter" / file), file


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    edits, declared = MUTANTS[name]
    bad = failing_checks(EX, tmp_path / name, edits)
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    assert set(bad) == declared


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, declared in MUTANTS.values()))
    assert {c.name for c in EX.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name, (edits, _) in MUTANTS.items():
        mutant(EX, tmp_path / name, edits)
