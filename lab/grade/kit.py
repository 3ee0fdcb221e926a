"""`lab kit build --out DIR`: the student edition of the lab.

The kit is the lab's git-tracked files with three things changed:

- each module an exercise replaces is its starter (``exercises/NN/starter/FILE`` written
  over the lab module named in the manifest's ``[replaces]``), so a student builds the
  piece *in place* and the whole lab runs on it;
- the grader's secrets are gone: ``lab/grade/hidden/`` (every hidden check's inputs and
  expected bytes), the grader's own tests and golden files, the Gradescope packaging;
  every manifest keeps only its ``visible`` checks (a stage left without checks goes);
- the lab's own test-suite (``tests/``) stays out: it tests the reference modules, which
  the kit no longer has. The kit's ``make test`` runs the visible checks instead.

What "passes" means in a kit: ``make test`` grades every exercise in place
(``python -m lab.grade --exercise ID --in-place``) and exits 0 only when every visible
check of every exercise passes; ``make test-01`` does one exercise. With untouched
starters every exercise scores 0 and ``make test`` exits non-zero. Hidden checks are
graded by the instructor's grader, never in the kit. All starters are in place at once,
so in a kit the exercises are cumulative: the lab-running checks of a later exercise
need the earlier exercises' modules (as a separate ``--submission``, each exercise runs
on the lab's reference for the rest).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .manifest import REPO_ROOT, Manifest, all_exercises, parse

__all__ = ["build", "visible_manifest_text", "EXCLUDED", "module_path"]

# Paths (prefixes) never shipped to students.
EXCLUDED = (
    "lab/grade/hidden/",  # hidden check bodies: inputs and expected bytes
    "tests/",  # the lab's and the grader's own tests (reference behaviour, golden files)
    "exercises/gradescope/",  # instructors' packaging
    ".ci/",
)

KIT_MAKEFILE = """\
# The protocol lab, student edition. `make test` grades every exercise you build here,
# in place, with the visible checks; `make test-NN` grades exercise NN alone.
# Exit status 0 means every visible check passed. Hidden checks run only at grading.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
GRADE   := $(BIN)/python -m lab.grade
EXERCISES := {exercises}

.PHONY: run test help {test_targets}

help:  ## list the targets
\t@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\\t/' | expand -t 16

$(STAMP): pyproject.toml
\t$(PY) -m venv $(VENV)
\t$(BIN)/pip install -q --upgrade pip
\t$(BIN)/pip install -q -e .
\ttouch $(STAMP)

venv: $(STAMP)  ## create .venv and install the lab

run: $(STAMP)  ## start the lab on its defaults (http://127.0.0.1:8080), on your modules
\t$(BIN)/python -m lab serve

test: $(STAMP)  ## every exercise's visible checks, on your modules in place
\t@status=0; for ex in $(EXERCISES); do $(GRADE) --exercise $$ex --in-place || status=1; done; exit $$status

{per_exercise}"""


def module_path(module: str, root: Path) -> Path:
    """``protocols.http1.parser`` -> ROOT/protocols/http1/parser.py"""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def tracked_files(root: Path) -> list[str]:
    """The lab's git-tracked files (and new ones not ignored); without git, every file but caches and dot-dirs."""
    try:
        out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True, check=True).stdout
        return sorted(p for p in out.decode().split("\0") if p)
    except (OSError, subprocess.CalledProcessError):
        files = []
        for path in root.rglob("*"):
            rel = path.relative_to(root)
            if path.is_file() and not any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                files.append(rel.as_posix())
        return sorted(files)


_BLOCK = re.compile(r"^\[\[stages(?:\.checks)?\]\]\s*$", re.M)


def visible_manifest_text(text: str) -> str:
    """The manifest with every non-visible check removed, comments kept. A stage whose
    checks are all hidden is removed with them."""
    starts = [m.start() for m in _BLOCK.finditer(text)]
    head, blocks = text[: starts[0]] if starts else text, []
    for a, b in zip(starts, starts[1:] + [len(text)]):
        blocks.append(text[a:b])
    out: list[str] = []
    stage: list[str] = []

    def flush() -> None:
        if len(stage) > 1:  # the stage header plus at least one check
            out.extend(stage)
        stage.clear()

    for block in blocks:
        if block.startswith("[[stages]]"):
            flush()
            stage.append(block)
        else:
            vis = re.search(r'^visibility\s*=\s*"([^"]*)"', block, re.M)
            if vis is None or vis.group(1) == "visible":
                stage.append(block)
    flush()
    return head + "".join(out)


def build(out: Path, root: Path | None = None, force: bool = False) -> dict:
    """Write the kit to ``out``; returns a summary (files, starters, hidden checks left out)."""
    root = Path(root or REPO_ROOT)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty (use --force to replace it)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [f for f in tracked_files(root) if not f.startswith(EXCLUDED)]
    for rel in files:
        src, dst = root / rel, out / rel
        if not src.is_file():
            continue  # tracked but deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    manifests = all_exercises(root / "exercises")
    starters, dropped = [], []
    for m in manifests:
        for file, module in m.modules():
            target = module_path(module, out)
            shutil.copyfile(m.directory / "starter" / file, target)
            starters.append(target.relative_to(out).as_posix())
        text = (m.directory / "manifest.toml").read_text()
        visible = visible_manifest_text(text)
        import tomllib

        parse(tomllib.loads(visible))  # still a valid manifest
        (out / "exercises" / m.id / "manifest.toml").write_text(visible)
        dropped += [f"{m.id}:{c.name}" for c in m.all_checks if c.hidden]
    _write_makefile(out, manifests)
    return {"out": str(out), "files": len(files), "starters": starters, "hidden_left_out": dropped}


def _write_makefile(out: Path, manifests: list[Manifest]) -> None:
    nums = [m.id.partition("-")[0] for m in manifests]
    per = "".join(
        f"test-{n}: $(STAMP)  ## {m.id}: {m.title}\n\t$(GRADE) --exercise {m.id} --in-place\n\n"
        for n, m in zip(nums, manifests)
    )
    text = KIT_MAKEFILE.format(
        exercises=" ".join(m.id for m in manifests),
        test_targets=" ".join(f"test-{n}" for n in nums),
        per_exercise=per,
    )
    (out / "Makefile").write_text(text)
    os.chmod(out / "Makefile", 0o644)
