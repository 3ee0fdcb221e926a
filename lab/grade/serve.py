"""`python -m lab.grade.serve --exercise ID --submission DIR -- LAB ARGS`: the lab's
CLI with the submission's modules in place of the lab's (see ``impl``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .impl import install
from .manifest import find_exercise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, _, rest = (argv[: argv.index("--")], None, argv[argv.index("--") + 1 :]) if "--" in argv else (argv, None, [])
    ap = argparse.ArgumentParser(prog="python -m lab.grade.serve", description=__doc__.split("\n")[0])
    ap.add_argument("--exercise", required=True)
    ap.add_argument("--submission", type=Path, required=True)
    args = ap.parse_args(ours)
    install(args.submission, find_exercise(args.exercise))
    from lab.cli import main as lab_main

    return lab_main(rest or ["serve"])


if __name__ == "__main__":
    sys.exit(main())
