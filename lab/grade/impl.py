"""Run the lab with a student's modules in place of its own (`--impl`).

    python -m lab.grade.serve --exercise 01 --submission DIR -- serve --app echo --port 8080

loads the submission's files in place of the lab modules the exercise replaces (the
same loader the grader's harness uses), then runs the lab's CLI with the arguments
after ``--``. A student builds one piece and sees the whole lab work with it; the
grader's "in the lab" checks start exactly this command in the sandbox.

For the lab's CLI: ``install(submission, manifest)`` before the server modules are
imported is all ``lab serve --impl DIR --exercise ID`` needs.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .harness.parser_harness import _load
from .manifest import Manifest

__all__ = ["install"]


def install(submission: Path, manifest: Manifest) -> None:
    import importlib

    for _, name in manifest.modules():
        importlib.import_module(name)  # the lab's, so the package is complete first
    for file, name in manifest.modules():
        _load(str(Path(submission) / file), name, lambda obj: print(f"lab: {obj}", file=sys.stderr))
