"""Exercise 04 (simple and resumable upload) through the whole grader: the reference
scores 100% with any seed, the untouched starter 0, and the mutation matrix: each
known-bad variant fails exactly its declared checks; every check has a killer."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .grade_helpers import leftovers, mutant_of, reference_of, starter_of

EX04 = find_exercise("04-uploads")
U, T = "uploads.py", "tus.py"

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "upload-ignores-offsets": (
        [(T, "            if offset != appender.offset:", "            if False:")],
        {"tus-conflicting-offsets"},
    ),
    "sha256-of-nothing": (
        [(U, "        self.sha256.update(chunk)\n", "")],
        {"upload-content-length", "upload-chunked"},
    ),
    "chunked-upload-is-411": (
        [(U, "if length is None and header(request, b\"transfer-encoding\") is None:", "if length is None:")],
        {"upload-chunked"},
    ),
    "no-411": (
        [(U, '            raise HTTPError(411, "an upload needs Content-Length or chunked framing")', "            pass")],
        {"upload-refusals"},
    ),
    "head-may-be-cached": (
        [(T, '            (b"Cache-Control", b"no-store"),\n', "")],
        {"tus-create-and-head"},
    ),
    "patch-overwrites": (
        [(T, "os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC", "os.O_WRONLY | os.O_CLOEXEC")],
        {"tus-patch-in-pieces", "tus-resume-after-drop", "tus-conflicting-offsets"},
    ),
    "drop-loses-the-bytes": (
        [(T, '        """The PATCH broke off: keep every byte that arrived, unlock. Safe twice."""\n        if self.fd >= 0:\n',
          '        """The PATCH broke off: keep every byte that arrived, unlock. Safe twice."""\n        if self.fd >= 0:\n'
          "            os.ftruncate(self.fd, 0)\n")],
        {"tus-resume-after-drop"},
    ),
    "any-content-type": (
        [(T, "        if content_type.lower() != _OFFSET_TYPE:", "        if False:")],
        {"tus-refusals"},
    ),
}
FAST = ("upload-ignores-offsets",)


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
def test_reference_scores_full_marks(tmp_path, seed):
    res = grade(EX04, reference_of(EX04, tmp_path / "ref"), seed=seed)
    assert {c["name"]: (c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"} == {}
    assert res["score"] == res["max_score"] == EX04.max_score


def test_untouched_starter_scores_zero(tmp_path):
    res = grade(EX04, starter_of(EX04, tmp_path / "starter"), seed=7)
    assert res["score"] == 0
    assert {c["status"] for c in res["checks"] if c["stage"] == "simple"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "simple")


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    edits, declared = MUTANTS[name]
    res = grade(EX04, mutant_of(EX04, tmp_path / name, edits), seed=11, keep_going=True, timeout=15)
    bad = {c["name"]: c["status"] for c in res["checks"] if c["status"] != "passed"}
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    assert set(bad) == declared


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, declared in MUTANTS.values()))
    assert {c.name for c in EX04.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name, (edits, _) in MUTANTS.items():
        mutant_of(EX04, tmp_path / name, edits)
