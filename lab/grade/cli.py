"""`lab grade` and `lab exercise`: argparse wiring for the lab's CLI.

The lab's `lab/cli.py` adds two subcommands with these four functions::

    configure_grade(subparsers.add_parser("grade", help=...))      -> run_grade(args)
    configure_exercise(subparsers.add_parser("exercise", help=...)) -> run_exercise(args)

`python -m lab.grade ...` runs the same code without the lab's CLI
(`python -m lab.grade exercise list`, `python -m lab.grade kit build --out DIR` for the
others). `lab kit` is ``configure_kit`` / ``run_kit`` (see ``kit``).

Exit status of `lab grade`: 0 every check passed, 1 some did not, 2 a usage error
(unknown exercise, missing folder), 3 a grader error in some check.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from . import export
from .manifest import ManifestError, all_exercises, find_exercise
from .runner import grade, grade_batch

__all__ = ["configure_grade", "run_grade", "configure_exercise", "run_exercise", "configure_kit", "run_kit", "main"]

FORMATS = tuple(export.EXPORTERS)


def configure_grade(p: argparse.ArgumentParser) -> None:
    p.description = "Grade a submission against an exercise's checks (or a whole class with --batch)."
    p.add_argument("--exercise", "-e", help="exercise id, e.g. 01-request-parsing (or 01) (default: none; required unless --batch finds it in each submission)")
    p.add_argument("--submission", "-s", type=Path, help="the folder with the student's files (default: none; required without --batch)")
    p.add_argument("--in-place", action="store_true",
                   help="grade the lab's own modules that the exercise replaces (the student kit: you "
                        "edit protocols/http1/parser.py itself) instead of a --submission folder")
    p.add_argument("--stage", help="grade stages 1..STAGE only (id or number); later stages are not_run (default: all stages)")
    p.add_argument("--seed", type=int, help="replay a run: every random choice comes from this seed (default: a fresh seed, printed)")
    p.add_argument("--format", "-f", choices=FORMATS, default="text", help="output format (default: %(default)s)")
    p.add_argument("--out", "-o", type=Path, help="write the output here, a folder with --batch (default: standard output)")
    p.add_argument("--only", action="append", metavar="CHECK", help="run only this check, repeatable (default: every check)")
    p.add_argument("--results", type=Path,
                   help="keep the full native results.json here (instructors: hidden checks included), "
                        "rewritten after every check so a killed run still leaves valid JSON (default: not kept)")
    p.add_argument("--batch", type=Path, metavar="SUBMISSIONS_DIR", help="grade every folder in this one, one per student (default: grade one --submission)")
    p.add_argument("--jobs", "-j", type=int, default=2, help="submissions graded at once with --batch (default: %(default)s)")
    p.add_argument("--lab-root", type=Path, help=argparse.SUPPRESS)  # the lab providing `protocols`, for tests
    p.add_argument("--pcap", type=Path, metavar="DIR",
                   help="keep each socket check's traffic: DIR/<check>.pcap and DIR/<check>.txt (annotated "
                        "timeline); needs CAP_NET_RAW, else said once and skipped (default: not kept)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")


def _progress(quiet: bool):
    if quiet:
        return None

    def show(spec, rec) -> None:
        print(f"  {spec.number:<5} {spec.name:<28} {rec['status']} ({rec['duration']:.2f}s)", file=sys.stderr, flush=True)

    return show


def run_grade(args: argparse.Namespace) -> int:
    try:
        if not args.exercise:
            print("lab grade: --exercise is required", file=sys.stderr)
            return 2
        manifest = find_exercise(args.exercise)
    except ManifestError as exc:
        print(f"lab grade: {exc}", file=sys.stderr)
        return 2
    if args.batch:
        if not args.out:
            print("lab grade: --batch needs --out DIR", file=sys.stderr)
            return 2
        rows = grade_batch(manifest, args.batch, args.out, jobs=args.jobs, seed=args.seed, lab_root=args.lab_root)
        print(f"graded {len(rows)} submission(s): {args.out / 'gradebook.csv'}")
        return 0
    if args.in_place:
        args.submission = _in_place_submission(manifest, args.lab_root)
    if not args.submission:
        print("lab grade: --submission DIR (or --batch DIR, or --in-place) is required", file=sys.stderr)
        return 2
    if not args.submission.is_dir():
        print(f"lab grade: no folder {args.submission}", file=sys.stderr)
        return 2
    if args.only:
        unknown = [n for n in args.only if n not in {c.name for c in manifest.all_checks}]
        if unknown:
            print(f"lab grade: no check {', '.join(unknown)} in {manifest.id}", file=sys.stderr)
            return 2
    if args.stage is not None:
        try:
            manifest.stage_index(args.stage)
        except KeyError:
            print(f"lab grade: no stage {args.stage!r} in {manifest.id}", file=sys.stderr)
            return 2
    native = args.results
    results = grade(
        manifest, args.submission, seed=args.seed, stage=args.stage, only=args.only, out=native,
        lab_root=args.lab_root, progress=_progress(args.quiet), pcap=args.pcap,
    )
    if not args.quiet:
        print(f"seed: {results['seed']}", file=sys.stderr)
    text = export.EXPORTERS[args.format](results)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    elif not args.out:
        sys.stdout.write(text)
    if args.format == "github" and os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a") as f:
            f.write(export.github_output_line(results))
    statuses = {c["status"] for c in results["checks"] if c["status"] != "not_run" or not (args.only or args.stage)}
    if "grader_error" in statuses:
        return 3
    return 0 if statuses <= {"passed"} else 1


def _in_place_submission(manifest, lab_root: Path | None) -> Path:
    """A submission folder made of the lab modules the exercise replaces, as they are
    now in this lab (the kit's starters, or the student's edits of them)."""
    import atexit
    import tempfile

    from .kit import module_path
    from .manifest import REPO_ROOT

    root = Path(lab_root or REPO_ROOT)
    dest = Path(tempfile.mkdtemp(prefix=f"lab-in-place-{manifest.id}-"))
    atexit.register(shutil.rmtree, dest, True)
    for file, module in manifest.modules():
        src = module_path(module, root)
        if src.is_file():
            shutil.copyfile(src, dest / file)
    return dest


def configure_kit(p: argparse.ArgumentParser) -> None:
    p.description = ("The student edition: the lab with each exercised module replaced by its starter, "
                     "the hidden checks left out, and a `make test` that runs the visible checks.")
    sub = p.add_subparsers(dest="kit_command", required=True)
    b = sub.add_parser("build", help="write the student edition to DIR")
    b.add_argument("--out", "-o", type=Path, required=True, help="the folder to write (must be empty)")
    b.add_argument("--force", action="store_true", help="replace what is in --out")


def run_kit(args: argparse.Namespace) -> int:
    from .kit import build

    try:
        summary = build(args.out, force=args.force)
    except (FileExistsError, ManifestError) as exc:
        print(f"lab kit: {exc}", file=sys.stderr)
        return 2
    print(f"kit written to {summary['out']}: {summary['files']} files, "
          f"{len(summary['starters'])} starter modules in place, "
          f"{len(summary['hidden_left_out'])} hidden checks left out")
    print(f"in the kit: make test   (or: python -m lab.grade --exercise ID --in-place)")
    return 0


def configure_exercise(p: argparse.ArgumentParser) -> None:
    p.description = ("The exercises: list them, read one, start one in a folder of your own; "
                     "instructors remake the starters from the reference modules.")
    sub = p.add_subparsers(dest="exercise_command", required=True)
    sub.add_parser("list", help="one line per exercise, starting with its id")
    show = sub.add_parser("show", help="what an exercise asks and what is checked")
    show.add_argument("id")
    start = sub.add_parser("start", help="copy an exercise's starter files into DIR")
    start.add_argument("id")
    start.add_argument("dir", type=Path)
    start.add_argument("--force", action="store_true", help="overwrite files that are already there")
    from .starters import configure as configure_starters

    configure_starters(sub.add_parser("starters", help="make the starter files from the lab's reference modules "
                                                       "and each exercise's starter.toml (instructors)"))


def run_exercise(args: argparse.Namespace) -> int:
    try:
        if args.exercise_command == "starters":
            from .starters import run

            return run(args)
        if args.exercise_command == "list":
            for m in all_exercises():
                print(f"{m.id:<24} {m.title}  ({len(m.all_checks)} checks, {m.max_score:g} points)")
            return 0
        m = find_exercise(args.id)
    except ManifestError as exc:
        print(f"lab exercise: {exc}", file=sys.stderr)
        return 2
    if args.exercise_command == "show":
        readme = m.directory / "README.md"
        print(readme.read_text() if readme.exists() else f"{m.id}: {m.title}\n{m.summary}")
        return 0
    # start
    starter = m.directory / "starter"
    dest: Path = args.dir
    clash = [f for f in m.files if (dest / f).exists()]
    if clash and not args.force:
        print(f"lab exercise: {', '.join(clash)} already in {dest}; use --force to overwrite", file=sys.stderr)
        return 1
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(starter.iterdir()):
        if f.is_file():
            shutil.copyfile(f, dest / f.name)
    shutil.copyfile(m.directory / "README.md", dest / "README.md") if (m.directory / "README.md").exists() else None
    print(f"{m.id}: starter files copied to {dest}: {', '.join(m.files)}")
    print(f"check your work:  python -m lab grade --exercise {m.id} --submission {dest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["kit"]:
        p = argparse.ArgumentParser(prog="python -m lab.grade kit")
        configure_kit(p)
        return run_kit(p.parse_args(argv[1:]))
    if argv[:1] == ["exercise"]:
        p = argparse.ArgumentParser(prog="python -m lab.grade exercise")
        configure_exercise(p)
        return run_exercise(p.parse_args(argv[1:]))
    p = argparse.ArgumentParser(prog="python -m lab.grade")
    configure_grade(p)
    return run_grade(p.parse_args(argv))


