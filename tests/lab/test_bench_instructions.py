"""`python -m lab.bench.instructions`: requests driven to the end, and, under valgrind,
a per-request figure that is the difference of two runs."""
from __future__ import annotations

import shutil
import sys

import pytest

from lab.bench.instructions import COLLECTED, count_instructions, drive

from .servers import running_server
from tests.skips import require


def test_drive_gets_every_answer_over_keep_alive():
    with running_server("epoll") as server:
        assert drive(server.port, 100, connections=4, timeout=30) == 100


def test_drive_fails_loudly_when_nothing_listens():
    with running_server("epoll", "--app", "hello") as server:
        server.stop()
        with pytest.raises(OSError):
            drive(server.port, 10, connections=2, timeout=5)


def test_the_total_is_read_from_valgrinds_last_line():
    err = "==1== Events    : Ir\n==1== Collected : 123456789\n==1==\n==1== I   refs:      123,456,789\n"
    assert COLLECTED.findall(err) == ["123456789"]


@pytest.mark.slow
def test_a_request_costs_tens_of_thousands_of_instructions():
    require(shutil.which("valgrind") is not None, "valgrind is needed (.ci/run installs it)")
    argv = [sys.executable, "-m", "lab", "serve", "--app", "hello", "--io", "epoll", "--port", "0"]
    result = count_instructions(argv, 800)
    assert result["requests"] == 800
    # Parsing, answering and the epoll loop: ~60k on CPython 3.11; far from 0 and 1M.
    assert 10_000 < result["instructions_per_request"] < 1_000_000, result
