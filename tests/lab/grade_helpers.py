"""Helpers for the grader's own tests: submissions built from the lab's reference
modules, mutants of them, misbehaving fixtures, and the no-leftover-process assertion."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from lab.grade import sandbox
from lab.grade.manifest import find_exercise

REPO = Path(__file__).resolve().parents[2]
HTTP1 = REPO / "protocols" / "http1"
EX01 = find_exercise("01-request-parsing")


def reference_submission(dest: Path) -> Path:
    """A submission made of the lab's own head.py and parser.py: must score 100%."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in EX01.files:
        shutil.copyfile(HTTP1 / f, dest / f)
    return dest


def starter_submission(dest: Path) -> Path:
    shutil.copytree(EX01.directory / "starter", dest)
    return dest


def mutant(dest: Path, edits: list[tuple[str, str, str]]) -> Path:
    """The reference with textual edits (file, old, new). An edit that no longer
    applies fails loudly: the reference changed and the mutant must follow it."""
    reference_submission(dest)
    for file, old, new in edits:
        path = dest / file
        text = path.read_text()
        assert old in text, f"mutant edit no longer applies to {file}: {old!r}"
        path.write_text(text.replace(old, new))
    return dest


def with_parser_prelude(dest: Path, prelude: str, epilogue: str = "") -> Path:
    """The reference parser with code run at import (prelude) or appended (epilogue)."""
    reference_submission(dest)
    path = dest / "parser.py"
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + sep + prelude + "\n" + rest + "\n" + epilogue + "\n")
    return dest


def leftovers() -> dict[str, list[int]]:
    """Processes (or cgroups) left behind by any run this test process started."""
    left = {}
    live = sandbox.pids_by_token()  # one pass over /proc for every recent run
    for token in sandbox.RECENT_TOKENS:
        pids = live.get(token, [])
        cg = sandbox.PIDS_CGROUP_ROOT / f"lab-grade-{os.getpid()}-{token}"
        if pids or cg.exists():
            left[token] = pids
    return left


def world_readable_tmp(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    p = d
    while p != p.parent:
        try:
            os.chmod(p, os.stat(p).st_mode | 0o055)
        except PermissionError:
            break
        p = p.parent
        if str(p) == "/tmp":
            break
    return d


# --- any exercise ------------------------------------------------------------------


def reference_of(manifest, dest: Path) -> Path:
    """A submission made of the lab modules ``manifest`` replaces: must score 100%."""
    from lab.grade.kit import module_path

    dest.mkdir(parents=True, exist_ok=True)
    for file, module in manifest.modules():
        shutil.copyfile(module_path(module, REPO), dest / file)
    return dest


def starter_of(manifest, dest: Path) -> Path:
    shutil.copytree(manifest.directory / "starter", dest)
    return dest


def mutant_of(manifest, dest: Path, edits: list[tuple[str, str, str]]) -> Path:
    """The reference with textual edits (file, old, new); an edit that no longer applies
    fails loudly."""
    reference_of(manifest, dest)
    for file, old, new in edits:
        path = dest / file
        text = path.read_text()
        assert old in text, f"mutant edit no longer applies to {file}: {old!r}"
        path.write_text(text.replace(old, new))
    return dest
