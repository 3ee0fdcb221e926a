"""Exercise 01 through the whole grader: the reference scores 100% (repeatedly, with
different seeds), the untouched starter scores 0, and misbehaving submissions each get
their own status and leave no process behind."""
from __future__ import annotations

import json

import pytest

from lab.grade.runner import grade

from .grade_helpers import EX01, leftovers, reference_submission, starter_submission, with_parser_prelude


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


# Twenty seeds (each splits the input at other points); all but three are `slow`.
@pytest.mark.parametrize("seed", [1, 2, 3, *(pytest.param(n, marks=pytest.mark.slow) for n in range(4, 21))])
def test_reference_scores_full_marks_every_time(tmp_path, seed):
    res = grade(EX01, reference_submission(tmp_path / "ref"), seed=seed)
    failed = {c["name"]: (c["status"], c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"}
    assert failed == {}
    assert res["score"] == res["max_score"] == EX01.max_score


def test_untouched_starter_scores_zero_and_later_stages_are_not_run(tmp_path):
    res = grade(EX01, starter_submission(tmp_path / "starter"), seed=7)
    assert res["score"] == 0
    stage1 = {c["status"] for c in res["checks"] if c["stage"] == "request-line"}
    assert stage1 == {"failed"}
    later = [c for c in res["checks"] if c["stage"] != "request-line"]
    assert later and all(c["status"] == "not_run" and "did not pass" in c["message"] for c in later)
    assert [s["status"] for s in res["stages"]] == ["failed"] + ["not_run"] * (len(res["stages"]) - 1)


def test_results_file_is_valid_json_after_every_check(tmp_path):
    out = tmp_path / "results.json"
    seen = []

    def progress(spec, rec):
        seen.append(json.loads(out.read_text()))

    grade(EX01, reference_submission(tmp_path / "ref"), seed=1, out=out, only=["simple-get", "header-fields"], progress=progress)
    assert [d["complete"] for d in seen] == [False, False]
    assert [c["status"] for c in seen[0]["checks"] if c["name"] == "simple-get"] == ["passed"]
    assert json.loads(out.read_text())["complete"] is True


def _one(tmp_path, prelude="", epilogue="", check="simple-get", timeout=3):
    sub = with_parser_prelude(tmp_path / "sub", prelude, epilogue)
    res = grade(EX01, sub, seed=1, only=[check], timeout=timeout)
    return next(c for c in res["checks"] if c["name"] == check)


HANG = "RequestParser.next_event = lambda self: __import__('time').sleep(3600)"
IGNORE_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)"
GIGABYTES = "RequestParser.next_event = lambda self: bytearray(2 * 1024**3)"
FORK_BOMB = """
import os as _os, time as _time
for _i in range(200):          # bounded: 200 sleepers
    if _os.fork() == 0:
        _time.sleep(30)
        _os._exit(0)
"""
DOUBLE_FORK = """
import os as _os, time as _time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _time.sleep(3600)
    _os._exit(0)
"""


def test_hang_is_timeout_naming_the_case(tmp_path):
    c = _one(tmp_path, epilogue=HANG)
    assert c["status"] == "timeout" and c["score"] == 0
    assert "while running case get-root/whole" in c["message"]


def test_hang_that_ignores_sigterm_is_timeout(tmp_path):
    c = _one(tmp_path, prelude=IGNORE_TERM, epilogue=HANG)
    assert c["status"] == "timeout"


def test_exit_at_once_is_crashed(tmp_path):
    c = _one(tmp_path, prelude="import os as _os\n_os._exit(0)")
    assert c["status"] == "crashed" and c["score"] == 0


def test_gigabytes_is_memory_limit(tmp_path):
    c = _one(tmp_path, epilogue=GIGABYTES)
    assert c["status"] == "memory_limit" and c["score"] == 0


def test_fork_bomb_is_process_limit(tmp_path):
    c = _one(tmp_path, prelude=FORK_BOMB)
    assert c["status"] == "process_limit" and c["score"] == 0


def test_double_fork_at_import_still_grades_and_is_swept(tmp_path):
    c = _one(tmp_path, prelude=DOUBLE_FORK)
    assert c["status"] == "passed"


def test_megabyte_of_ansi_output_is_capped_and_neutralised(tmp_path):
    c = _one(tmp_path, prelude="import sys as _sys\n_sys.stdout.write('\\x1b[2J\\x1b[31m' + 'x' * 1_000_000)")
    assert c["status"] == "passed"
    assert "\x1b" not in c["stdout"] and "\\x1b[2J" in c["stdout"]
    assert "output truncated: 1,000,009 bytes in all" in c["stdout"]


def test_banned_import_is_found_before_anything_runs(tmp_path):
    sub = with_parser_prelude(tmp_path / "sub", "import h11")
    res = grade(EX01, sub, seed=1)
    assert {c["status"] for c in res["checks"]} == {"banned_import"}
    assert res["score"] == 0
    assert "parser.py" in res["banned"][0] and "'h11'" in res["banned"][0]


def test_importing_the_labs_parser_is_banned(tmp_path):
    sub = with_parser_prelude(tmp_path / "sub", "", "from protocols.http1 import RequestParser")
    res = grade(EX01, sub, seed=1, only=["simple-get"])
    assert res["checks"][0]["status"] == "banned_import"


def test_computed_import_of_a_banned_module_is_caught_at_run_time(tmp_path):
    c = _one(tmp_path, prelude="import importlib as _il\ntry:\n    _il.import_module('h1' + '1')\nexcept ImportError:\n    pass")
    assert c["status"] == "banned_import"


def test_subclassing_the_labs_parser_is_banned(tmp_path):
    sub = reference_submission(tmp_path / "sub")
    (sub / "parser.py").write_text("import protocols.http1 as _h\nRequestParser = type('RequestParser', (_h.RequestParser,), {})\n")
    res = grade(EX01, sub, seed=1, only=["simple-get"])
    assert res["checks"][0]["status"] == "banned_import"


def test_missing_file_is_reported_not_a_grader_crash(tmp_path):
    sub = reference_submission(tmp_path / "sub")
    (sub / "head.py").unlink()
    res = grade(EX01, sub, seed=1, only=["simple-get"])
    c = res["checks"][0]
    assert c["status"] == "crashed" and "head.py" in c["message"]


def test_seed_replays_the_same_split_points(tmp_path):
    from lab.grade.checks.request_parsing import CHECKS
    import random

    a = CHECKS["header-fields"].jobs(type("C", (), {"rng": random.Random("42:header-fields")})())
    b = CHECKS["header-fields"].jobs(type("C", (), {"rng": random.Random("42:header-fields")})())
    assert [x[2] for x in a] == [x[2] for x in b]


def test_server_that_never_listens_is_crashed_with_a_message(tmp_path):
    c = _one(tmp_path, prelude="import sys as _sys\nif 'lab.grade.serve' in ' '.join(_sys.argv) or _sys.argv[0].endswith('serve.py'):\n    _sys.exit(3)",
             check="lab-serves-with-your-parser", timeout=5)
    assert c["status"] == "crashed" and "never printed `listening on" in c["message"]


def test_server_that_hangs_before_listening_is_reported(tmp_path):
    c = _one(tmp_path, prelude="import sys as _sys, time as _t\nif _sys.argv[0].endswith('serve.py'):\n    _t.sleep(3600)",
             check="lab-serves-with-your-parser", timeout=3)
    assert c["status"] in ("timeout", "crashed") and c["score"] == 0
    assert "never printed `listening on" in c["message"]


def test_a_grader_killed_mid_run_leaves_valid_json_and_no_process(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from lab.grade import sandbox

    from .grade_helpers import REPO

    sub = with_parser_prelude(tmp_path / "sub", "", HANG)
    results = tmp_path / "r.json"
    grader = subprocess.Popen(
        [sys.executable, "-m", "lab.grade", "-e", "01", "-s", str(sub), "--results", str(results), "-q", "--seed", "1"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    mine = []
    while time.monotonic() < deadline and not mine:  # wait until its first run is under way
        time.sleep(0.1)
        mine = list(sandbox.PIDS_CGROUP_ROOT.glob(f"lab-grade-{grader.pid}-*"))
    time.sleep(0.5)
    grader.send_signal(signal.SIGKILL)
    grader.wait()
    data = json.loads(results.read_text())
    assert data["complete"] is False and {c["status"] for c in data["checks"]} == {"not_run"}
    time.sleep(0.3)  # PR_SET_PDEATHSIG: the run dies with its grader
    sandbox.sweep_stale_cgroups()  # what the next grader does first
    assert not list(sandbox.PIDS_CGROUP_ROOT.glob(f"lab-grade-{grader.pid}-*"))
    leaked = [p for p in os.listdir("/proc") if p.isdigit() and _env_has(p, str(sub))]
    assert leaked == []


def _env_has(pid: str, needle: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return needle.encode() in f.read()
    except OSError:
        return False


def test_a_fault_in_a_check_body_is_grader_error_not_the_students(tmp_path, monkeypatch):
    from lab.grade.checks.request_parsing import CHECKS

    def broken(ctx):
        raise KeyError("bug in the grader")

    monkeypatch.setattr(CHECKS["simple-get"], "run", broken)
    res = grade(EX01, reference_submission(tmp_path / "ref"), seed=1, only=["simple-get"])
    c = res["checks"][0]
    assert c["status"] == "grader_error" and c["score"] == 0 and "not your fault" in c["message"]


def test_control_bytes_in_exception_messages_are_escaped_everywhere(tmp_path):
    from lab.grade import export

    sub = with_parser_prelude(tmp_path / "sub", "", "def _boom(self):\n    raise ValueError('\\x1b[2J\\x00evil\\nline')\nRequestParser.next_event = _boom")
    res = grade(EX01, sub, seed=1, only=["simple-get"])
    for fmt in export.EXPORTERS.values():
        out = fmt(res)
        assert "\x1b" not in out and "\x00" not in out
    import xml.etree.ElementTree as ET
    ET.fromstring(export.to_junit(res))
