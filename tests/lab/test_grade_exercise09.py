"""Exercise 09 (SSE) through the whole grader: the reference (the lab's own
protocols/sse.py) scores 100% repeatedly, the untouched starter 0, and the mutation matrix: each
known-bad variant of the reference fails exactly the checks declared for it, and every
check has a mutant that kills it."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .exercise_helpers import failing_checks, mutant, reference, starter
from .grade_helpers import leftovers

EX = find_exercise("09-sse")
S = "sse.py"

DISPATCH_AT_EOF = (
    "        self._eof = True\n"
    "        out = []\n"
    "        if self._buf:\n"
    "            self._process_line(bytes(self._buf), out)\n"
    "        event = self._dispatch()\n"
    "        self._buf.clear()\n"
    "        return out + ([event] if event else [])\n"
)

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "event-without-blank-line": (
        [(S, '    out += b"\\n"\n    return bytes(out)', "    return bytes(out)")],
        {"encode-events", "encode-multiline-data", "encode-fields", "lab-streams-events",
         "lab-resumes-after-last-event-id"},
    ),
    "cr-in-data-not-split": (
        [(S, "for line in _TEXT_LINE_END.split(data):", 'for line in data.split("\\n"):')],
        {"encode-multiline-data"},
    ),
    "id-with-lf-accepted": (
        [(S, 'if "\\r" in id or "\\n" in id or "\\0" in id:', 'if "\\0" in id:')],
        {"encode-refuses-bad-fields"},
    ),
    "comment-not-split-into-lines": (
        [(S, "for line in _TEXT_LINE_END.split(text)", "for line in [text]")],
        {"encode-comments-and-retry"},
    ),
    "data-lines-joined-without-lf": (
        [(S, 'data = "\\n".join(self._data)', 'data = "".join(self._data)')],
        {"parse-events", "parse-line-ends"},
    ),
    "cr-not-a-line-end": (
        [(S, '_LINE_END = re.compile(rb"[\\r\\n]")', '_LINE_END = re.compile(rb"\\n")')],
        {"parse-line-ends"},
    ),
    "every-leading-space-stripped": (
        [(S, 'return value[1:] if value.startswith(" ") else value', 'return value.lstrip(" ")')],
        {"parse-fields"},
    ),
    "bom-kept": (
        [(S, "        if head == _BOM:\n            del self._buf[:3]", "        if False:\n            del self._buf[:3]")],
        {"parse-bytes-and-bom"},
    ),
    "comment-without-colon": (
        [(S, 'b":" + (b" " + line.encode("utf-8") if line else b"") + b"\\n"',
          '(line.encode("utf-8") if line else b"") + b"\\n"')],
        {"encode-comments-and-retry", "lab-heartbeat"},
    ),
    "id-written-as-ids": (
        [(S, 'out += _field(b"id", id)', 'out += _field(b"ids", id)')],
        {"encode-fields", "lab-streams-events", "lab-resumes-after-last-event-id"},
    ),
    "unterminated-event-dispatched-at-eof": (
        [(S, '        self._eof = True\n        self._buf.clear()\n        self._data.clear()\n'
             '        self._event_type = ""\n        return []\n', DISPATCH_AT_EOF)],
        {"parse-end-of-stream"},
    ),
}
FAST = ("event-without-blank-line", "cr-in-data-not-split", "id-with-lf-accepted")


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
    assert {c["status"] for c in res["checks"] if c["stage"] == "encoder"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "encoder")


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
