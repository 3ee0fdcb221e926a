"""Exercise 02 (responses, keep-alive, pipelining) through the whole grader: the
reference scores 100% with any seed, the untouched starter 0, and the mutation matrix:
each known-bad variant fails exactly its declared checks; every check has a killer."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .grade_helpers import leftovers, mutant_of, reference_of, starter_of

EX02 = find_exercise("02-responses-keepalive")
W, C = "writer.py", "connection.py"

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "reason-phrase-missing": (
        [(W, 'b"HTTP/1.1 %d %s\\r\\n" % (s.value, s.phrase.encode())', 'b"HTTP/1.1 %d\\r\\n" % s.value')],
        {"status-line", "content-length", "connection-close", "bodiless-responses"},  # they compare status lines
    ),
    "no-date": (
        [(W, 'parts = [status_line(status), b"Date: ", _date_value, b"\\r\\n"]', "parts = [status_line(status)]")],
        {"date-header"},
    ),
    "date-in-local-time": (
        [(W, "formatdate(now, usegmt=True)", "formatdate(now + 7200, usegmt=True)")],
        {"date-header"},
    ),
    "content-length-one-too-many": (
        [(W, 'parts += (b"Content-Length: ", b"%d" % length, b"\\r\\n")',
          'parts += (b"Content-Length: ", b"%d" % (length + 1 if length else 0), b"\\r\\n")')],
        {"content-length", "connection-close", "bodiless-responses", "keep-alive-by-default", "pipelining-in-order",
         "connection-close-honoured", "http-1.0", "head-then-get", "errors-close", "content-length-exact",
         "pipelined-across-reads"},
    ),
    "no-connection-close-field": (
        [(W, '    if not keep_alive:\n        parts.append(b"Connection: close\\r\\n")\n', "")],
        {"connection-close", "connection-close-honoured", "http-1.0", "errors-close"},
    ),
    "body-sent-for-head": (
        [(W, 'return method != b"HEAD" and status >= 200', "return status >= 200")],
        {"bodiless-responses", "head-then-get"},
    ),
    "content-length-on-204": (
        [(W, "    if status >= 200 and status not in (204, 304):\n        if length",
          "    if status >= 200:\n        if length")],
        {"bodiless-responses"},
    ),
    "extra-crlf-after-body": (
        [(W, "return head + body if body and body_allowed(status, method) else head",
          'return head + body + b"\\r\\n" if body and body_allowed(status, method) else head')],
        {"content-length", "connection-close", "keep-alive-by-default", "pipelining-in-order",
         "connection-close-honoured", "http-1.0", "head-then-get", "errors-close", "content-length-exact",
         "pipelined-across-reads"},
    ),
    "header-injection-allowed": (
        [(W, '        if _LF in value or _CR in value or _NUL in value:\n', "        if False:\n")],
        {"field-injection-refused"},
    ),
    "answers-out-of-order": (
        [(C, "                    out.append(self._finish(event.trailers))", "                    out.insert(0, self._finish(event.trailers))")],
        {"pipelining-in-order", "head-then-get", "pipelined-across-reads"},
    ),
    "always-close": (
        [(C, "keep_alive = self.parser.keep_alive and not response.close and not self.stopping", "keep_alive = False")],
        {"keep-alive-by-default", "pipelining-in-order", "http-1.0", "head-then-get", "content-length-exact",
         "pipelined-across-reads"},
    ),
    "connection-close-ignored": (
        [(C, "keep_alive = self.parser.keep_alive and not response.close and not self.stopping",
          "keep_alive = not response.close and not self.stopping")],
        {"connection-close-honoured", "http-1.0"},
    ),
    "error-keeps-connection": (
        [(C, '    def _error(self, exc: HTTPError) -> bytes:\n        """The one place a protocol error becomes bytes: its status, then close."""\n        self.closing = True',
          '    def _error(self, exc: HTTPError) -> bytes:\n        """The one place a protocol error becomes bytes: its status, then close."""\n        self.closing = False')],
        {"errors-close"},
    ),
}
FAST = ("answers-out-of-order", "no-connection-close-field")


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
def test_reference_scores_full_marks(tmp_path, seed):
    res = grade(EX02, reference_of(EX02, tmp_path / "ref"), seed=seed)
    assert {c["name"]: (c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"} == {}
    assert res["score"] == res["max_score"] == EX02.max_score


def test_untouched_starter_scores_zero(tmp_path):
    res = grade(EX02, starter_of(EX02, tmp_path / "starter"), seed=7)
    assert res["score"] == 0
    assert {c["status"] for c in res["checks"] if c["stage"] == "writer"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "writer")


def test_starter_connection_alone_fails_every_socket_check(tmp_path):
    """The reference writer with the starter connection: the lab runs on the student's
    connection.py (not its own), so every socket check fails."""
    sub = reference_of(EX02, tmp_path / "half")
    (sub / C).write_text((EX02.directory / "starter" / C).read_text())
    res = grade(EX02, sub, seed=1, keep_going=True, only=["keep-alive-by-default", "errors-close"])
    assert {c["name"]: c["status"] for c in res["checks"] if c["status"] != "not_run"} == {
        "keep-alive-by-default": "failed", "errors-close": "failed"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MUTANTS])
def test_mutant_fails_exactly_its_declared_checks(tmp_path, name):
    edits, declared = MUTANTS[name]
    res = grade(EX02, mutant_of(EX02, tmp_path / name, edits), seed=11, keep_going=True, timeout=10)
    bad = {c["name"]: c["status"] for c in res["checks"] if c["status"] != "passed"}
    assert set(bad.values()) <= {"failed", "timeout"}, bad
    assert set(bad) == declared


def test_every_check_has_a_killing_mutant():
    killed = set().union(*(declared for _, declared in MUTANTS.values()))
    assert {c.name for c in EX02.all_checks} - killed == set()


def test_every_mutant_edit_applies(tmp_path):
    for name, (edits, _) in MUTANTS.items():
        mutant_of(EX02, tmp_path / name, edits)
