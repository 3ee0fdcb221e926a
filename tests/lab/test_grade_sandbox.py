"""The sandbox: every misbehaviour gets its own status, and nothing is left behind."""
from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

from lab.grade import sandbox
from lab.grade.sandbox import SandboxLimits, run

from .grade_helpers import leftovers

FAST = SandboxLimits(wall_seconds=2, cpu_seconds=10)


def _run(code: str, limits: SandboxLimits = FAST):
    workdir = Path(tempfile.mkdtemp(prefix="lab-grade-test-"))
    os.chmod(workdir, 0o755)
    return run(["python", "-c", code], workdir=workdir, limits=limits)


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


def test_clean_exit_is_ok_and_channel_is_private():
    r = _run("import os; print('out'); os.write(3, b'channel')")
    assert (r.status, r.returncode, r.stdout, r.channel) == ("ok", 0, b"out\n", b"channel")


def test_exit_at_once_is_crashed_with_its_status():
    r = _run("import os; os._exit(3)")
    assert r.status == "crashed" and "status 3" in r.message


def test_hang_is_timeout_not_a_grader_crash():
    started = time.monotonic()
    r = _run("import time; time.sleep(3600)")
    assert r.status == "timeout" and "2 s" in r.message
    assert time.monotonic() - started < 5


def test_ignoring_sigterm_gets_sigkill_after_grace():
    r = _run("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)")
    assert r.status == "timeout"
    assert r.returncode == -signal.SIGKILL


def test_allocating_gigabytes_is_memory_limit():
    # 512 MiB of address space; the fixture asks for 2 GiB (the machine has 24, shared).
    r = _run("x = bytearray(2 * 1024**3)", SandboxLimits(wall_seconds=5, memory_bytes=512 * 2**20))
    assert r.status == "memory_limit" and "512 MiB" in r.message


def test_busy_loop_is_cpu_limit():
    r = _run("while True: pass", SandboxLimits(wall_seconds=6, cpu_seconds=1))
    assert r.status == "cpu_limit"


BOUNDED_FORK_BOMB = """
import os, time
for i in range(200):          # bounded: 200 sleepers, never an unbounded bomb
    if os.fork() == 0:
        time.sleep(30)
        os._exit(0)
time.sleep(30)
"""


def test_fork_bomb_is_process_limit_and_all_children_die():
    r = _run(BOUNDED_FORK_BOMB, SandboxLimits(wall_seconds=5, processes=32))
    assert r.status == "process_limit"


def test_fork_bomb_without_cgroup_is_caught_by_the_token_watchdog(monkeypatch):
    monkeypatch.setattr(sandbox, "PIDS_CGROUP_ROOT", Path("/nonexistent/lab-grade"))
    r = _run(BOUNDED_FORK_BOMB, SandboxLimits(wall_seconds=5, processes=32))
    assert r.status == "process_limit"


DOUBLE_FORK = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(3600)      # the daemon a careless server leaves behind
    os._exit(0)
time.sleep(0.3)
"""


@pytest.mark.parametrize("cgroup", [True, False])
def test_double_fork_and_setsid_descendants_are_swept(monkeypatch, cgroup):
    if not cgroup:
        monkeypatch.setattr(sandbox, "PIDS_CGROUP_ROOT", Path("/nonexistent/lab-grade"))
    r = _run(DOUBLE_FORK)
    assert r.status == "ok"
    # the autouse fixture asserts the grandchild is gone


def test_one_megabyte_of_output_is_capped_with_a_visible_note():
    r = _run("import sys; sys.stdout.write('x' * 1_000_000)", SandboxLimits(wall_seconds=5, output_bytes=4096))
    assert r.stdout_total == 1_000_000 and len(r.stdout) == 4096 and r.stdout_truncated
    shown = sandbox.neutralize(r.stdout, total=r.stdout_total)
    assert "output truncated: 1,000,000 bytes in all, first 4,096 shown" in shown


def test_ansi_escapes_are_neutralised():
    r = _run(r"print('\x1b[31mred\x1b[0m\x1b]0;title\x07 \r over')")
    shown = sandbox.neutralize(r.stdout)
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "\\x1b[31mred" in shown


def test_environment_is_an_allow_list():
    os.environ["LAB_GRADE_SECRET_FOR_TEST"] = "leak"
    try:
        r = _run("import os; print(sorted(os.environ))")
    finally:
        del os.environ["LAB_GRADE_SECRET_FOR_TEST"]
    assert b"LAB_GRADE_SECRET_FOR_TEST" not in r.stdout
    assert b"LAB_GRADE_RUN" in r.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_only_loopback_is_reachable():
    code = (
        "import socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "socket.create_connection(s.getsockname(), timeout=1).close()\n"
        "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError as e:\n    print('blocked', e.errno)\n"
    )
    r = _run(code)
    assert r.status == "ok" and r.stdout.startswith(b"blocked")


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_runs_as_nobody_when_root_and_interpreter_reachable():
    if not sandbox.pick_python(True):
        pytest.skip("no interpreter reachable by nobody on this host")
    r = _run("import os; print(os.getuid())")
    assert r.stdout.strip() == b"65534"
