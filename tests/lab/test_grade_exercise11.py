"""Exercise 11 (push over WebSocket) through the whole grader: the reference (the lab's own
lab/patterns/websocket.py) scores 100% repeatedly, the untouched starter 0, and the mutation matrix: each
known-bad variant of the reference fails exactly the checks declared for it, and every
check has a mutant that kills it."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .exercise_helpers import failing_checks, module_path, mutant, reference, starter
from .grade_helpers import leftovers

EX = find_exercise("11-websocket-push")
# The reference is lab/patterns/websocket.py (the push endpoint); a lab without it skips.
pytestmark = pytest.mark.skipif(not module_path(EX.reference).exists(), reason="lab/patterns/websocket.py not in this lab")
W = "websocket.py"

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "wrong-accept": (
        [(W, "    headers = server_handshake(request.method, request.headers)\n",
          "    headers = [(n, b\"x\" + v[1:] if n == b\"Sec-WebSocket-Accept\" else v)\n"
          "               for n, v in server_handshake(request.method, request.headers)]\n")],
        {"upgrade-101", "messages-pushed-as-text-frames", "client-text-published", "ping-pong", "close-handshake",
         "protocol-error-closes", "vanished-client-unsubscribed"},
    ),
    "frame-without-data-key": (
        [(W, 'view = {"offset": offset, "data": data.decode("utf-8")}', 'view = {"offset": offset, "text": data.decode("utf-8")}')],
        {"messages-pushed-as-text-frames", "client-text-published"},
    ),
    "not-woken-by-publish": (
        [(W, "self._subscription = self.broker.subscribe(self.topic, wake)",
          "self._subscription = self.broker.subscribe(self.topic, lambda: None)")],
        {"messages-pushed-as-text-frames", "client-text-published"},
    ),
    "client-frames-not-published": (
        [(W, "                    self.broker.publish(\n", "                    (lambda *a: None)(\n")],
        {"client-text-published"},
    ),
    "pong-held-back": (
        [(W, "                # Ping: the core queued the Pong; Pong: nothing to do.\n                out.append(ws.data_to_send())",
          "                # Ping: the core queued the Pong; Pong: nothing to do.\n"
          "                out.append(ws.data_to_send() if type(event).__name__ != \"Ping\" else b\"\")")],
        {"ping-pong"},
    ),
    "tcp-left-open-after-close": (
        [(W, "            self.closing = True\n            self.deadline = None\n            self._unsubscribe()",
          "            self.deadline = None\n            self._unsubscribe()")],
        {"close-handshake", "protocol-error-closes"},
    ),
    "no-close-frame-on-error": (
        [(W, "        except WebSocketError:\n            out.append(ws.data_to_send())", "        except WebSocketError:\n            pass")],
        {"protocol-error-closes"},
    ),
    "never-unsubscribed": (
        [(W, "    def _unsubscribe(self) -> None:\n        if self._subscription is not None:",
          "    def _unsubscribe(self) -> None:\n        if False:")],
        {"vanished-client-unsubscribed"},
    ),
}
FAST = ("client-frames-not-published", "pong-held-back")


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
    assert {c["status"] for c in res["checks"] if c["stage"] == "handshake"} == {"failed"}
    assert all(c["status"] == "not_run" for c in res["checks"] if c["stage"] != "handshake")


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
