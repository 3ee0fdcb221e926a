"""Exercise 07 (short polling) through the whole grader: the reference (the lab's own
jobs.py) scores 100% repeatedly, the untouched starter 0, and the mutation matrix: each
known-bad variant of the reference fails exactly the checks declared for it, and every
check has a mutant that kills it."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .exercise_helpers import failing_checks, mutant, reference, starter
from .grade_helpers import leftovers

EX = find_exercise("07-short-polling")
J = "jobs.py"

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "post-blocks-until-done": (
        [(J, '        return json_response(202, view, [(b"Location"',
          '        __import__("time").sleep(seconds)\n        return json_response(202, view, [(b"Location"')],
        {"post-answers-202-at-once", "status-and-progress", "work-off-the-io-path", "jobs-run-side-by-side"},
    ),
    "status-200-not-202": (
        [(J, "return json_response(202, view,", "return json_response(200, view,")],
        {"post-answers-202-at-once"},
    ),
    "no-location": (
        [(J, ', [(b"Location", f"/jobs/{job.id}".encode())])', ")")],
        {"location-is-the-handle"},
    ),
    "seconds-not-validated": (
        [(J, "    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):\n", "    if False:\n")],
        {"bad-job-request-400"},
    ),
    "progress-jumps-at-the-end": (
        [(J, "            job.progress = elapsed / job.seconds", "            job.progress = 0.0")],
        {"status-and-progress"},
    ),
    "unknown-job-is-500": (
        [(J, 'raise HTTPError(404, "no such job")', "raise KeyError(id)")],
        {"unknown-job-404"},
    ),
    "one-job-at-a-time": (
        [(J, "            job = Job(secrets.token_hex(8), seconds)\n",
          "            job = Job(secrets.token_hex(8), seconds)\n"
          "            job.started = max([j.started + j.seconds for j in self._jobs.values()\n"
          "                               if j.state == \"running\"], default=job.started)\n")],
        {"jobs-run-side-by-side"},
    ),
}
FAST = ("status-200-not-202", "no-location")


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
    assert {c["status"] for c in res["checks"] if c["stage"] == "handles"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "handles")


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

    assert names(module_path(EX.reference)) <= names(EX.directory / "starter" / "jobs.py")


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
