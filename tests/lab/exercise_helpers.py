"""Helpers for the grader tests of exercises 07-12: a submission made of the lab's own
modules (the reference), the untouched starter, and mutants of the reference, for any
exercise (``grade_helpers`` holds exercise 01's)."""
from __future__ import annotations

import shutil
from pathlib import Path

from lab.grade.manifest import Manifest

REPO = Path(__file__).resolve().parents[2]


def module_path(module: str) -> Path:
    return REPO.joinpath(*module.split(".")).with_suffix(".py")


def reference(manifest: Manifest, dest: Path) -> Path:
    """The lab's own modules under the exercise's file names: must score 100%."""
    dest.mkdir(parents=True, exist_ok=True)
    for file, module in manifest.modules():
        shutil.copyfile(module_path(module), dest / file)
    return dest


def starter(manifest: Manifest, dest: Path) -> Path:
    shutil.copytree(manifest.directory / "starter", dest)
    return dest


def mutant(manifest: Manifest, dest: Path, edits: list[tuple[str, str, str]]) -> Path:
    """The reference with textual edits (file, old, new), each applied once. An edit
    that no longer applies fails loudly: the reference changed, the mutant must follow."""
    reference(manifest, dest)
    for file, old, new in edits:
        path = dest / file
        text = path.read_text()
        assert text.count(old) == 1, f"mutant edit does not apply exactly once to {file}: {old!r}"
        path.write_text(text.replace(old, new))
    return dest


def failing_checks(manifest: Manifest, dest: Path, edits: list[tuple[str, str, str]], seed: int = 11) -> dict[str, str]:
    """Grade a mutant with every stage run; the checks it does not pass, with status."""
    from lab.grade.runner import grade

    res = grade(manifest, mutant(manifest, dest, edits), seed=seed, keep_going=True)
    return {c["name"]: c["status"] for c in res["checks"] if c["status"] != "passed"}
