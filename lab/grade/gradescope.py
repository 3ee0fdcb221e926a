"""Build a Gradescope autograder zip for one exercise.

    python -m lab.grade.gradescope --exercise 01-request-parsing --out autograder.zip

The zip holds what grading needs - `protocols/`, `lab/`, the exercise's folder - plus
`setup.sh` and `run_autograder` (from `exercises/gradescope/`) at its root, and two
one-line files naming the exercise and its first file. Upload it as the assignment's
autograder; set the assignment's visibility rules to match the manifest's.
"""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from .manifest import REPO_ROOT, find_exercise

SCRIPTS = REPO_ROOT / "exercises" / "gradescope"


def build(exercise_id: str, out: Path) -> list[str]:
    m = find_exercise(exercise_id)
    names = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        def add(path: Path, arcname: str, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(arcname)
            info.external_attr = (mode | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, path.read_bytes())
            names.append(arcname)

        for top in ("protocols", "lab"):
            for path in sorted((REPO_ROOT / top).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".toml", ".txt", ".html", ".js", ".css"):
                    add(path, str(path.relative_to(REPO_ROOT)))
        for path in sorted(m.directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                add(path, str(path.relative_to(REPO_ROOT)))
        for script in ("run_autograder", "setup.sh"):
            add(SCRIPTS / script, script, 0o755)
        z.writestr("EXERCISE", m.id + "\n")
        z.writestr("FIRST_FILE", m.files[0] + "\n")
        names += ["EXERCISE", "FIRST_FILE"]
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.grade.gradescope", description=__doc__.split("\n\n")[0])
    ap.add_argument("--exercise", required=True)
    ap.add_argument("--out", type=Path, default=Path("autograder.zip"))
    args = ap.parse_args(argv)
    names = build(args.exercise, args.out)
    print(f"{args.out}: {len(names)} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
