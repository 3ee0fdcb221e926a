"""Exercise 10 (WebSocket handshake and frames) through the whole grader: the reference (the lab's own
handshake.py and frames.py) scores 100% repeatedly, the untouched starter 0, and the mutation matrix: each
known-bad variant of the reference fails exactly the checks declared for it, and every
check has a mutant that kills it."""
from __future__ import annotations

import pytest

from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .exercise_helpers import failing_checks, mutant, reference, starter
from .grade_helpers import leftovers

EX = find_exercise("10-websocket-frames")
H, F = "handshake.py", "frames.py"

# name: (edits, the checks it must fail, and no other)
MUTANTS = {
    "wrong-accept-guid": (
        [(H, 'GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"', 'GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B12"')],
        {"accept-key", "server-handshake"},
    ),
    "token-lists-not-split": (
        [(H, 'for token in value.split(b",")', "for token in [value]")],
        {"server-handshake"},
    ),
    "wrong-version-is-400": (
        [(H, "        raise HTTPError(\n            426,", "        raise HTTPError(\n            400,")],
        {"handshake-refusals"},
    ),
    "mask-not-applied-when-encoding": (
        [(F, "return head + mask + apply_mask(payload, mask)", "return head + mask + bytes(payload)")],
        {"encode-rfc-examples"},
    ),
    "16-bit-length-off-by-one": (
        [(F, "    if n < 126:\n        head += bytes([mask_bit | n])", "    if n <= 126:\n        head += bytes([mask_bit | n])")],
        {"encode-lengths"},
    ),
    "unsendable-close-code-encoded": (
        [(F, "    if not is_valid_close_code(code):\n        raise ValueError", "    if False:\n        raise ValueError")],
        {"encode-close"},
    ),
    "accepts-unmasked-client-frames": (
        [(F, "if masked == self.client_side:", "if masked and self.client_side:")],
        {"unmasked-client-frame-refused"},
    ),
    "minimal-16-bit-check-off-by-one": (
        [(F, "            if length < 126:\n", "            if length <= 126:\n")],
        {"parse-lengths"},
    ),
    "mask-offset-ignored": (
        [(F, "    if offset % 4:\n", "    if False:\n")],
        {"parse-masked-frames", "parse-lengths", "fragmentation", "close-codes", "utf8-across-fragments",
         "message-too-big"},
    ),
    "continuation-without-message-accepted": (
        [(F, "            if self._message_opcode is None:\n                raise WebSocketError(PROTOCOL_ERROR, "
             "\"continuation frame without a message\")",
          "            if False:\n                raise WebSocketError(PROTOCOL_ERROR, \"continuation frame without a message\")")],
        {"fragmentation"},
    ),
    "fragmented-control-allowed": (
        [(F, "            if not fin:\n                raise WebSocketError(PROTOCOL_ERROR, \"fragmented control frame\")",
          "            if False:\n                raise WebSocketError(PROTOCOL_ERROR, \"fragmented control frame\")")],
        {"control-frame-rules"},
    ),
    "close-code-not-validated": (
        [(F, "    if not is_valid_close_code(code):\n        raise WebSocketError", "    if False:\n        raise WebSocketError")],
        {"close-codes"},
    ),
    "utf8-checked-per-frame": (
        [(F, "self._data_chunk(header, chunk, final=done and header.fin)", "self._data_chunk(header, chunk, final=done)")],
        {"utf8-across-fragments"},
    ),
    "size-limit-per-frame": (
        [(F, "if self._message_size + length > self.max_message:", "if length > self.max_message:")],
        {"message-too-big"},
    ),
}
FAST = ("wrong-accept-guid", "accepts-unmasked-client-frames", "16-bit-length-off-by-one")


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
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
