"""What every exercise must hold to (02 onwards included): the kit and --pcap are
reachable from the lab's CLI; each reference scores 100% run after run (slow). That
every starter mirrors its reference is test_grade_starters.py's."""
from __future__ import annotations

import pytest

from lab.grade.manifest import all_exercises
from lab.grade.runner import grade

from .grade_helpers import leftovers, reference_of

EXERCISES = all_exercises()


def test_lab_cli_has_kit_and_grade_pcap(tmp_path, capsys):
    from lab.cli import SUBCOMMANDS, build_parser, main

    assert ("kit", "build the student edition", "lab.grade.cli", "configure_kit", "run_kit") in SUBCOMMANDS
    args = build_parser().parse_args(["grade", "-e", "02", "-s", str(tmp_path), "--pcap", str(tmp_path / "caps")])
    assert args.pcap == tmp_path / "caps"
    assert main(["kit", "build", "--out", str(tmp_path / "kit")]) == 0
    assert "hidden checks left out" in capsys.readouterr().out
    assert main(["kit", "build", "--out", str(tmp_path / "kit")]) == 2  # not empty: refused without --force


@pytest.mark.slow
@pytest.mark.parametrize("run", range(5))
@pytest.mark.parametrize("m", [m for m in EXERCISES if m.id[:2] in ("02", "03", "04", "05", "06")], ids=lambda m: m.id)
def test_reference_scores_full_marks_run_after_run(tmp_path, m, run):
    res = grade(m, reference_of(m, tmp_path / "ref"), seed=100 + run)
    assert {c["name"]: (c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"} == {}
    assert leftovers() == {}
