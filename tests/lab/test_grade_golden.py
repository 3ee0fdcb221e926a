"""Golden files of the student-facing output for the misbehaving fixtures: the text
report (exercise 01's parser, exercise 02's server, exercise 10's frames) and one
Gradescope results.json, what instructors import.

Regenerate after an intended change: `LAB_UPDATE_GOLDEN=1 pytest tests/lab/test_grade_golden.py`
and review the diff like code."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from lab.grade.export import to_gradescope, to_text
from lab.grade.manifest import find_exercise
from lab.grade.runner import grade

from .grade_helpers import EX01, REPO, leftovers, mutant_of, starter_submission, with_parser_prelude
from .test_grade_exercise01 import DOUBLE_FORK, FORK_BOMB, IGNORE_TERM

GOLDEN = Path(__file__).with_name("golden")
EX02 = find_exercise("02-responses-keepalive")
EX10 = find_exercise("10-websocket-frames")


def normalize(text: str, submission: Path) -> str:
    """What differs between two runs or two machines, as placeholders: the submission
    folder (a fresh tmp_path), the lab's checkout and the line numbers of the grader's
    and the interpreter's own frames in a traceback (the student's frames keep theirs),
    and the seconds a check took (JSON, kept a string so the golden stays JSON)."""
    text = text.replace(str(submission.resolve()), "<SUBMISSION>").replace(str(REPO), "<LAB>")
    text = re.sub(r'(File "(?:<LAB>/[^"]+|<frozen [^>]+>)", line )\d+', r"\1<N>", text)
    return re.sub(r'("(?:duration|execution_time)": )[0-9.]+', r'\1"<SECONDS>"', text)


def _check_golden(name: str, text: str, submission: Path, suffix: str = ".txt") -> None:
    text = normalize(text, submission)
    path = GOLDEN / f"{name}{suffix}"
    if os.environ.get("LAB_UPDATE_GOLDEN") or not path.exists():
        path.write_text(text)
    assert text == path.read_text()


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


def test_golden_untouched_starter(tmp_path):
    sub = starter_submission(tmp_path / "starter")
    _check_golden("grade_starter", to_text(grade(EX01, sub, seed=1234)), sub)


def test_golden_banned_import(tmp_path):
    sub = with_parser_prelude(tmp_path / "sub", "import httptools")
    _check_golden("grade_banned_import", to_text(grade(EX01, sub, seed=1234)), sub)


def test_golden_hang_and_noisy_output(tmp_path):
    sub = with_parser_prelude(
        tmp_path / "sub",
        "print('\\x1b[2J\\x1b[31mHELLO\\x1b[0m ' + 'y' * 100_000)",
        "RequestParser.next_event = lambda self: __import__('time').sleep(3600)",
    )
    res = grade(EX01, sub, seed=1234, only=["simple-get"], timeout=2)
    _check_golden("grade_hang_noisy", to_text(res), sub)


def test_golden_wrong_status_with_caret(tmp_path):
    from .test_grade_mutants import MUTANTS
    from .grade_helpers import mutant

    sub = mutant(tmp_path / "m", MUTANTS["whitespace-before-colon-accepted"][0])
    res = grade(EX01, sub, seed=1234, only=["whitespace-before-colon", "limits-at-the-edge"])
    _check_golden("grade_caret", to_text(res), sub)


# --- exercise 02: the submission runs as a server ---------------------------------


def _server_with_prelude(dest: Path, code: str) -> Path:
    """The reference with ``code`` run when the server imports the student's connection.py."""
    future = "from __future__ import annotations\n"
    return mutant_of(EX02, dest, [("connection.py", future, future + code + "\n")])


SLEEP_FOREVER = "import time as _t\n_t.sleep(3600)"
# name: the code the server runs at import. Every one is graded on one socket check.
SERVERS = {
    "exits_at_once": "import os as _os\n_os._exit(0)",
    "never_listens": SLEEP_FOREVER,
    "ignores_sigterm": IGNORE_TERM + "\n" + SLEEP_FOREVER,  # so the grader's SIGKILL ends it
    "double_forks": DOUBLE_FORK,  # passes: the setsid grandchild is swept all the same
    "fork_bomb": FORK_BOMB,
    "allocates_gigabytes": "_hog = bytearray(2 * 1024**3)",
}


@pytest.mark.parametrize("name", SERVERS)
def test_golden_server_fixture(tmp_path, name):
    sub = _server_with_prelude(tmp_path / name, SERVERS[name])
    res = grade(EX02, sub, seed=1234, only=["keep-alive-by-default"], timeout=2)
    if name == "fork_bomb":
        # Not pinned: whether the fork that fails prints its traceback before the
        # watchdog's SIGKILL lands (or at all, without a pids cgroup) is a race.
        res["checks"] = [{**c, "stderr": ""} for c in res["checks"]]
    _check_golden(f"grade_server_{name}", to_text(res), sub)


# --- exercise 10: frames, shown as a hexdump with their fields decoded ----------------


def test_golden_websocket_frame_hexdump(tmp_path):
    from .test_grade_exercise10 import MUTANTS

    sub = mutant_of(EX10, tmp_path / "m", MUTANTS["accepts-unmasked-client-frames"][0])
    res = grade(EX10, sub, seed=1234, only=["unmasked-client-frame-refused"], timeout=5)
    _check_golden("grade_websocket_hexdump", to_text(res), sub)


# --- what instructors import ----------------------------------------------------------


def test_golden_gradescope_results_hide_hidden_checks(tmp_path):
    from .test_grade_exercise02 import MUTANTS

    edits = MUTANTS["reason-phrase-missing"][0] + MUTANTS["header-injection-allowed"][0]
    sub = mutant_of(EX02, tmp_path / "m", edits)
    res = grade(EX02, sub, seed=1234, only=["status-line", "field-injection-refused"], timeout=5)
    doc = to_gradescope(res)
    _check_golden("gradescope_visible_and_hidden_failures", doc, sub, suffix=".json")
    tests = {t["name"]: t for t in json.loads(doc)["tests"]}
    assert tests["status-line"]["status"] == tests["field-injection-refused"]["status"] == "failed"
    assert "expected:" in tests["status-line"]["output"]
    hidden = json.dumps(tests["field-injection-refused"])
    assert not any(word in hidden for word in ("sent:", "expected:", "got:", "replay:", "\\r\\n", "duration"))
