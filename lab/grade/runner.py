"""Grade one submission (or a class) against an exercise manifest.

Order of work: scan the submission's source for banned imports (no code runs if one is
found); then stage by stage, check by check, each check in a fresh copy of the
submission, confined by the sandbox. Grading stage k runs stages 1..k; after the first
stage with a check that did not pass, later stages are ``not_run`` - listed, with their
points, never dropped. The results file is rewritten (write to a temporary file, then
``os.replace``) before the first check and after every check, so a grader killed at
any moment leaves valid JSON that says it is incomplete.

Randomness: one seed per run (printed; ``--seed`` replays it). Each check draws from
``random.Random(f"{seed}:{check}")``, so ``--only CHECK`` replays exactly that check.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import sandbox, scoring
from .banned import scan_submission
from .checks import CheckOutcome, Context
from .manifest import Manifest, check_registry
from .sandbox import LAB_ROOT, SandboxLimits

__all__ = ["grade", "grade_batch", "write_json_atomic", "SCHEMA"]

SCHEMA = "lab-grade/1"
# Submissions are small; a folder over this is refused (grader_error would be unfair:
# the message says why).
MAX_SUBMISSION_BYTES = 5 * 1024 * 1024


def write_json_atomic(path: Path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _limits(manifest: Manifest, timeout: float) -> SandboxLimits:
    lim = manifest.limits
    return SandboxLimits(
        wall_seconds=timeout,
        cpu_seconds=int(lim.get("cpu_seconds", 20)),
        memory_bytes=int(lim.get("memory_mib", 512)) * 1024 * 1024,
        open_files=int(lim.get("open_files", 256)),
        processes=int(lim.get("processes", 64)),
        file_size_bytes=int(lim.get("file_size_mib", 16)) * 1024 * 1024,
        output_bytes=int(lim.get("output_kib", 16)) * 1024,
    )


def _copy_submission(src: Path) -> Path:
    """A fresh, world-readable copy: the sandbox's user (``nobody``) must read it, and
    one check must not see files another check's run left behind."""
    dst = Path(tempfile.mkdtemp(prefix="lab-grade-run-"))
    os.chmod(dst, 0o755)
    total = 0
    for path in sorted(Path(src).rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        if path.is_symlink():
            continue
        target = dst / rel
        if path.is_dir():
            target.mkdir(exist_ok=True)
            os.chmod(target, 0o755)
        elif path.is_file():
            total += path.stat().st_size
            if total > MAX_SUBMISSION_BYTES:
                raise ValueError(f"the submission is larger than {MAX_SUBMISSION_BYTES // 2**20} MiB")
            shutil.copyfile(path, target)
            os.chmod(target, 0o644)
    return dst


def _as_submitted(output: str, run_dir: Path, submission: Path) -> str:
    """A run's output with its throwaway copy's path (a traceback's ``File "..."``)
    shown as the submission folder the student knows, which still exists."""
    return output.replace(str(run_dir), str(submission)) if output else output


def _check_record(manifest: Manifest, spec, seed: int, submission: Path) -> dict:
    return {
        "name": spec.name,
        "number": spec.number,
        "stage": spec.stage,
        "category": spec.category,
        "description": spec.description,
        "visibility": spec.visibility,
        "hidden": spec.hidden,
        "partial": spec.partial,
        "max_score": spec.points,
        "score": 0.0,
        "status": "not_run",
        "message": "",
        "duration": 0.0,
        "cases": [],
        "stdout": "",
        "stderr": "",
        "reproduce": f"lab grade --exercise {manifest.id} --submission {submission} --seed {seed} --only {spec.name}",
    }


def grade(
    manifest: Manifest,
    submission: Path,
    *,
    seed: int | None = None,
    stage: str | None = None,
    only: list[str] | None = None,
    out: Path | None = None,
    lab_root: Path | None = None,
    progress=None,
    timeout: float | None = None,
    keep_going: bool = False,
    pcap: Path | None = None,
) -> dict:
    """Grade one submission; returns the native results (also written to ``out``).

    ``timeout`` overrides every check's wall limit (the grader's own tests use short
    ones); ``keep_going`` runs later stages even after a failing one (the mutation
    matrix needs every check's verdict); ``pcap`` keeps each visible socket check's
    traffic as ``<check>.pcap`` + ``<check>.txt`` there (see ``pcap``)."""
    submission = Path(submission).resolve()
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    lab_root = Path(lab_root or os.environ.get("LAB_GRADE_LAB_ROOT") or LAB_ROOT).resolve()
    last_stage = manifest.stage_index(stage) if stage is not None else len(manifest.stages) - 1
    results = {
        "schema": SCHEMA,
        "exercise": manifest.id,
        "title": manifest.title,
        "submission": str(submission),
        "seed": seed,
        "stage": stage,
        "only": only,
        "started": _now(),
        "finished": None,
        "complete": False,
        "banned": [],
        "isolation": {},
        "notes": [],
        "stages": [{"id": s.id, "title": s.title, "status": "not_run"} for s in manifest.stages],
        "checks": [_check_record(manifest, c, seed, submission) for c in manifest.all_checks],
        "score": 0.0,
        "max_score": manifest.max_score,
    }

    def save() -> None:
        results["score"] = scoring.total(results["checks"])
        results["max_score"] = scoring.max_total(results["checks"])
        if out is not None:
            write_json_atomic(out, results)

    save()
    by_name = {c["name"]: c for c in results["checks"]}

    if not submission.is_dir():
        for c in results["checks"]:
            c["status"], c["message"] = "not_run", f"no submission folder at {submission}"
        results["error"] = f"no submission folder at {submission}"
        results["finished"], results["complete"] = _now(), True
        save()
        return results

    found = scan_submission(submission, list(manifest.files), manifest.banned(), manifest.package)
    if found:
        results["banned"] = [b.message() for b in found]
        for c in results["checks"]:
            c["status"] = "banned_import"
            c["message"] = found[0].message()
        results["stages"] = [{**s, "status": "banned_import"} for s in results["stages"]]
        results["finished"], results["complete"] = _now(), True
        save()
        return results

    missing = [f for f in manifest.files if not (submission / f).is_file()]
    registry = check_registry(manifest)
    blocked_by: str | None = None
    for si, st in enumerate(manifest.stages):
        stage_rec = results["stages"][si]
        if si > last_stage:
            for spec in st.checks:
                by_name[spec.name]["message"] = f"not requested: grading stops at stage {manifest.stages[last_stage].id}"
            continue
        if blocked_by is not None and not keep_going:
            for spec in st.checks:
                by_name[spec.name]["message"] = f"stage {blocked_by} did not pass: fix it first"
            continue
        stage_ok = True
        for spec in st.checks:
            rec = by_name[spec.name]
            if only and spec.name not in only:
                rec["message"] = "not selected (--only)"
                continue
            if missing:
                rec["status"], rec["message"] = "crashed", f"missing file(s): {', '.join(missing)}"
                stage_ok = False
                continue
            started = time.monotonic()
            try:
                run_dir = _copy_submission(submission)
            except (OSError, ValueError) as exc:
                rec["status"], rec["message"] = "grader_error", f"could not copy the submission: {exc}"
                stage_ok = False
                save()
                continue
            try:
                ctx = Context(
                    submission=run_dir,
                    manifest=manifest,
                    spec=spec,
                    rng=random.Random(f"{seed}:{spec.name}"),
                    seed=seed,
                    limits=_limits(manifest, timeout or spec.timeout),
                    lab_root=lab_root,
                    reproduce=rec["reproduce"],
                    origin=submission,
                    pcap_dir=Path(pcap) if pcap is not None else None,
                    notes=results["notes"],
                )
                outcome = registry[spec.name].run(ctx)
            except Exception as exc:  # noqa: BLE001 - a grader fault is not the student's
                outcome = CheckOutcome(
                    "grader_error",
                    message=f"the grader failed ({type(exc).__name__}: {exc}); this is not your fault, report it",
                )
                rec["grader_traceback"] = traceback.format_exc(limit=-5)
            finally:
                shutil.rmtree(run_dir, ignore_errors=True)
            rec.update(
                status=outcome.status,
                message=outcome.message,
                duration=round(time.monotonic() - started, 3),
                cases=[c.to_json() for c in outcome.cases],
                stdout=_as_submitted(outcome.stdout, run_dir, submission),
                stderr=_as_submitted(outcome.stderr, run_dir, submission),
                score=scoring.check_score(outcome.status, outcome.fraction, spec.points, spec.partial),
            )
            if outcome.status != "passed":
                stage_ok = False
            save()
            if progress:
                progress(spec, rec)
        ran = [by_name[s.name] for s in st.checks if by_name[s.name]["status"] != "not_run"]
        stage_rec["status"] = "not_run" if not ran else ("passed" if stage_ok else "failed")
        if not stage_ok:
            blocked_by = st.id

    results["isolation"] = dict(sandbox.LAST_ISOLATION)
    results["finished"], results["complete"] = _now(), True
    save()
    return results


def _student_dirs(batch: Path) -> list[Path]:
    return sorted(p for p in Path(batch).iterdir() if p.is_dir() and not p.name.startswith("."))


def grade_batch(
    manifest: Manifest,
    batch: Path,
    out: Path,
    *,
    jobs: int = 2,
    seed: int | None = None,
    lab_root: Path | None = None,
    stream=sys.stderr,
    only: list[str] | None = None,
) -> list[dict]:
    """Grade every folder in ``batch`` (one per student) ``jobs`` at a time. Writes
    ``out/<student>.json`` per student and ``out/gradebook.csv``; returns the rows."""
    import csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    students = _student_dirs(batch)
    seed = secrets.randbelow(2**31) if seed is None else seed
    done = 0
    lock = threading.Lock()
    rows: dict[str, dict] = {}
    started = time.monotonic()

    def bar() -> None:
        width = 30
        filled = int(width * done / max(1, len(students)))
        elapsed = time.monotonic() - started
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{len(students)} graded, {elapsed:.0f}s")
        stream.flush()

    def one(student: Path) -> tuple[str, dict]:
        try:
            res = grade(manifest, student, seed=seed, out=out / f"{student.name}.json", lab_root=lab_root, only=only)
        except Exception as exc:  # noqa: BLE001
            res = {"checks": [], "score": 0.0, "max_score": manifest.max_score, "error": f"grader_error: {exc}"}
            write_json_atomic(out / f"{student.name}.json", res)
        return student.name, res

    bar()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, s) for s in students]
        for fut in as_completed(futures):
            name, res = fut.result()
            with lock:
                rows[name] = res
                done += 1
                bar()
    stream.write("\n")
    checks = manifest.all_checks
    with open(out / "gradebook.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", "max_score", "percent", "seed", *[c.name for c in checks]])
        for name in sorted(rows):
            res = rows[name]
            by = {c["name"]: c for c in res.get("checks", [])}
            w.writerow([
                name,
                res.get("score", 0.0),
                res.get("max_score", manifest.max_score),
                scoring.percent(res["checks"]) if res.get("checks") else 0.0,
                seed,
                *[by[c.name]["score"] if c.name in by else 0.0 for c in checks],
            ])
    return [{"student": n, **rows[n]} for n in sorted(rows)]
