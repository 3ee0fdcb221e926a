"""Exercise 03 (chunked) through the whole grader: the reference scores 100% with any
seed, the untouched starter 0, and the mutation matrix: each known-bad variant of the
reference fails exactly the checks declared for it; every check has a killing mutant."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .grade_helpers import leftovers, mutant_of, reference_of, starter_of

EX03 = find_exercise("03-chunked")
B = "body.py"

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "missing-final-chunk-accepted": (
        [(B, '            raise HTTPError(400, "chunked body ended before its last chunk")', "            return EndOfMessage()")],
        {"last-chunk-required"},
    ),
    "no-crlf-check": (
        [(B, '                if buf[:2] != b"\\r\\n":\n                    raise HTTPError(400, "chunk data not followed by CRLF")\n', ""),
         (B, '                    if buf and buf[:1] != b"\\r":\n                        raise HTTPError(400, "chunk data not followed by CRLF")\n', "")],
        {"missing-crlf-after-data"},
    ),
    "extensions-refused": (
        [(B, 'rb"([0-9A-Fa-f]+)(?:[ \\t]*;', 'rb"([0-9A-Fa-f]+)(?:[ \\t]*;\\x00')],
        {"extensions-ignored", "chunk-edge-cases", "lab-decodes-your-chunks"},
    ),
    "trailers-dropped": (
        [(B, "        return EndOfMessage(trailers)", "        return EndOfMessage()")],
        {"trailers-kept", "chunk-edge-cases", "lab-decodes-your-chunks"},
    ),
    "size-line-prefix-match": (
        [(B, "match = _CHUNK_LINE.fullmatch(line)", "match = _CHUNK_LINE.match(line)")],
        {"bad-chunk-size", "chunk-edge-cases"},
    ),
    "no-overflow-guard": (
        [(B, 'if len(digits.lstrip(b"0")) > _MAX_HEX_DIGITS:', "if False:")],
        {"chunk-size-overflow"},
    ),
    "max-body-ignored": (
        [(B, "        if self.total > self.limits.max_body:", "        if False:")],
        {"body-too-large", "lab-rejects-bad-chunks"},
    ),
    "decimal-chunk-size-written": (
        [(B, 'return b"%x\\r\\n%s\\r\\n" % (len(data), data)', 'return b"%d\\r\\n%s\\r\\n" % (len(data), data)')],
        {"encode-chunk"},
    ),
    "last-chunk-without-final-crlf": (
        [(B, 'LAST_CHUNK = b"0\\r\\n\\r\\n"', 'LAST_CHUNK = b"0\\r\\n"')],
        {"encode-chunk"},
    ),
    "bad-size-is-500": (
        [(B, 'raise HTTPError(400, f"malformed chunk-size line', 'raise HTTPError(500, f"malformed chunk-size line')],
        {"bad-chunk-size", "chunk-edge-cases", "lab-rejects-bad-chunks"},
    ),
    "partial-size-line-dropped": (
        [(B, "                    return self._need(eof)\n                self._start_chunk",
          "                    buf.clear()\n                    return self._need(eof)\n                self._start_chunk")],
        {"chunks-decoded", "extensions-ignored", "trailers-kept", "chunk-edge-cases", "bad-chunk-size",
         "chunk-size-overflow", "missing-crlf-after-data", "body-too-large"},
    ),
}
FAST = ("missing-final-chunk-accepted", "no-crlf-check")


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
def test_reference_scores_full_marks(tmp_path, seed):
    res = grade(EX03, reference_of(EX03, tmp_path / "ref"), seed=seed)
    assert {c["name"]: c["message"] for c in res["checks"] if c["status"] != "passed"} == {}
    assert res["score"] == res["max_score"] == EX03.max_score


def test_untouched_starter_scores_zero(tmp_path):
    res = grade(EX03, starter_of(EX03, tmp_path / "starter"), seed=7)
    assert res["score"] == 0
    assert {c["status"] for c in res["checks"] if c["stage"] == "decoding"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "decoding")


def test_the_lab_runs_on_the_students_reader_not_its_own(tmp_path):
    """The lab's parser imported ChunkedReader before the swap: it must use the student's."""
    sub = mutant_of(EX03, tmp_path / "m", MUTANTS["trailers-dropped"][0])
    res = grade(EX03, sub, seed=1, only=["trailers-kept", "lab-decodes-your-chunks"], keep_going=True)
    assert {c["name"]: c["status"] for c in res["checks"] if c["status"] != "not_run"} == {
        "trailers-kept": "failed", "lab-decodes-your-chunks": "failed"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    edits, declared = MUTANTS[name]
    res = grade(EX03, mutant_of(EX03, tmp_path / name, edits), seed=11, keep_going=True, timeout=8)
    bad = {c["name"]: c["status"] for c in res["checks"] if c["status"] != "passed"}
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    assert set(bad) == declared


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, declared in MUTANTS.values()))
    assert {c.name for c in EX03.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name, (edits, _) in MUTANTS.items():
        mutant_of(EX03, tmp_path / name, edits)
