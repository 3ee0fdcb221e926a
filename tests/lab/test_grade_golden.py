"""Golden files of the student-facing text report for a few fixtures.

Regenerate after an intended change: `LAB_UPDATE_GOLDEN=1 pytest tests/lab/test_grade_golden.py`
and review the diff like code."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.grade.export import to_text
from lab.grade.runner import grade

from .grade_helpers import EX01, leftovers, starter_submission, with_parser_prelude

GOLDEN = Path(__file__).with_name("golden")


def _check_golden(name: str, text: str, submission: Path) -> None:
    text = text.replace(str(submission.resolve()), "<SUBMISSION>")
    path = GOLDEN / f"{name}.txt"
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
