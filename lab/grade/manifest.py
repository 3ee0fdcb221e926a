"""Exercise manifests: ``exercises/NN-slug/manifest.toml``, loaded and validated.

A manifest is the single source of truth for what an exercise checks: stages, their
checks, points, timeouts, visibility. The README's "what is checked" section, the
grader, the exporters and the student kit all read it. Shape::

    id = "01-request-parsing"
    title = "Parse HTTP/1.1 requests"
    reference = "protocols.http1.parser"      # the lab module whose class the checks drive
    files = ["head.py", "parser.py"]          # what the student hands in, in load order
    [replaces]                                # each file takes the place of a lab module
    "head.py" = "protocols.http1.head"
    "parser.py" = "protocols.http1.parser"
    harness = "parser"                        # how checks reach the submission
    checks = "lab.grade.checks.request_parsing"   # where the check bodies live
    banned_imports = ["http.server", "h11"]   # plus the reference, always

    [limits]                                  # sandbox limits for every check
    memory_mib = 512

    [[stages]]
    id = "request-line"
    title = "The request-line"

    [[stages.checks]]
    name = "simple-get"
    points = 2
    timeout = 10
    visibility = "visible"                    # visible | hidden | after_due_date | after_published
    category = "request-line"
    description = "A minimal GET is parsed into Request + EndOfMessage"
    partial = false                           # true: points in proportion to cases passed
"""
from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CheckSpec", "Stage", "Manifest", "ManifestError", "load", "exercises_dir", "find_exercise", "all_exercises"]

# Gradescope's names for when a test's result is shown to the student.
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
REPO_ROOT = Path(__file__).resolve().parents[2]
# Hidden check bodies live here, never in the student kit (see ``check_registry``).
HIDDEN_PACKAGE = "lab.grade.hidden"


class ManifestError(ValueError):
    """A manifest that cannot be graded with; the message names the file and the key."""


@dataclass(frozen=True)
class CheckSpec:
    name: str
    stage: str
    number: str  # "2.3": stage 2, check 3 (Gradescope's `number`)
    points: float
    timeout: float
    visibility: str
    category: str
    description: str
    partial: bool = False

    @property
    def hidden(self) -> bool:
        """Hidden from the student now: only name, category, status and points show."""
        return self.visibility != "visible"


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    checks: tuple[CheckSpec, ...]


@dataclass(frozen=True)
class Manifest:
    id: str
    title: str
    summary: str
    reference: str
    files: tuple[str, ...]
    harness: str
    checks_module: str
    banned_imports: tuple[str, ...]
    stages: tuple[Stage, ...]
    limits: dict = field(default_factory=dict)
    replaces: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def directory(self) -> Path:
        assert self.path is not None
        return self.path.parent

    @property
    def all_checks(self) -> list[CheckSpec]:
        return [c for s in self.stages for c in s.checks]

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.all_checks)

    @property
    def package(self) -> str:
        """The package the submission is loaded into (its relative imports resolve there)."""
        return self.reference.rpartition(".")[0]

    def banned(self) -> list[str]:
        """Banned for the student. The replaced lab modules are not on the list: inside
        the harness an import of one of them gets the student's own file."""
        return list(self.banned_imports)

    def modules(self) -> list[tuple[str, str]]:
        """(file, module it replaces), in load order."""
        return [(f, self.replaces[f]) for f in self.files]

    def check(self, name: str) -> CheckSpec:
        for c in self.all_checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def stage_index(self, stage: str) -> int:
        """Stage by id or by 1-based number."""
        for i, s in enumerate(self.stages):
            if s.id == stage or str(i + 1) == str(stage):
                return i
        raise KeyError(stage)


def _need(table: dict, key: str, kind: type | tuple, where: str):
    if key not in table:
        raise ManifestError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ManifestError(f"{where}: {key!r} must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def parse(data: dict, path: Path | None = None) -> Manifest:
    where = str(path or "manifest")
    stages = []
    seen: set[str] = set()
    raw_stages = _need(data, "stages", list, where)
    if not raw_stages:
        raise ManifestError(f"{where}: no stages")
    for si, st in enumerate(raw_stages, 1):
        sw = f"{where}: stages[{si}]"
        sid = _need(st, "id", str, sw)
        checks = []
        for ci, ch in enumerate(_need(st, "checks", list, sw), 1):
            cw = f"{sw}.checks[{ci}]"
            name = _need(ch, "name", str, cw)
            if name in seen:
                raise ManifestError(f"{cw}: duplicate check name {name!r}")
            seen.add(name)
            points = float(_need(ch, "points", (int, float), cw))
            if points < 0:
                raise ManifestError(f"{cw}: points must be >= 0")
            timeout = float(ch.get("timeout", 10))
            if not 0 < timeout <= 600:
                raise ManifestError(f"{cw}: timeout must be in (0, 600] seconds")
            vis = ch.get("visibility", "visible")
            if vis not in VISIBILITIES:
                raise ManifestError(f"{cw}: visibility {vis!r} is not one of {', '.join(VISIBILITIES)}")
            unknown = set(ch) - {"name", "points", "timeout", "visibility", "category", "description", "partial"}
            if unknown:
                raise ManifestError(f"{cw}: unknown keys {sorted(unknown)}")
            checks.append(
                CheckSpec(
                    name=name,
                    stage=sid,
                    number=f"{si}.{ci}",
                    points=points,
                    timeout=timeout,
                    visibility=vis,
                    category=str(ch.get("category", sid)),
                    description=str(ch.get("description", "")),
                    partial=bool(ch.get("partial", False)),
                )
            )
        if not checks:
            raise ManifestError(f"{sw}: stage {sid!r} has no checks")
        stages.append(Stage(sid, str(st.get("title", sid)), tuple(checks)))
    manifest = Manifest(
        id=_need(data, "id", str, where),
        title=_need(data, "title", str, where),
        summary=str(data.get("summary", "")),
        reference=_need(data, "reference", str, where),
        files=tuple(_need(data, "files", list, where)),
        harness=_need(data, "harness", str, where),
        checks_module=_need(data, "checks", str, where),
        banned_imports=tuple(data.get("banned_imports", ())),
        stages=tuple(stages),
        limits=dict(data.get("limits", {})),
        replaces=dict(data.get("replaces", {})),
        path=path,
    )
    missing = [f for f in manifest.files if f not in manifest.replaces]
    if missing:
        raise ManifestError(f"{where}: [replaces] has no lab module for {missing}")
    if manifest.reference not in manifest.replaces.values():
        raise ManifestError(f"{where}: reference {manifest.reference!r} is not one of the replaced modules")
    return manifest


def load(path: Path, validate_checks: bool = True) -> Manifest:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: {exc}") from None
    manifest = parse(data, path)
    if manifest.id != path.parent.name:
        raise ManifestError(f"{path}: id {manifest.id!r} differs from the folder name {path.parent.name!r}")
    if validate_checks:
        registry = check_registry(manifest)
        missing = [c.name for c in manifest.all_checks if c.name not in registry]
        if missing:
            raise ManifestError(f"{path}: no check body in {manifest.checks_module} for {missing}")
    return manifest


def check_registry(manifest: Manifest) -> dict:
    """The check bodies by name: ``CHECKS`` of the manifest's checks module, plus
    ``CHECKS`` of ``lab.grade.hidden.<same leaf name>`` when that module exists. The
    hidden package is left out of the student kit, and with it every hidden input."""
    module = importlib.import_module(manifest.checks_module)
    checks = dict(module.CHECKS)
    hidden_name = HIDDEN_PACKAGE + "." + manifest.checks_module.rpartition(".")[2]
    try:
        hidden = importlib.import_module(hidden_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (hidden_name, HIDDEN_PACKAGE):
            raise
    else:
        checks.update(hidden.CHECKS)
    return checks


def exercises_dir() -> Path:
    return REPO_ROOT / "exercises"


def all_exercises(root: Path | None = None) -> list[Manifest]:
    root = root or exercises_dir()
    return [load(p) for p in sorted(root.glob("*/manifest.toml"))]


def find_exercise(exercise_id: str, root: Path | None = None) -> Manifest:
    """By full id (``01-request-parsing``), number (``01``, ``1``) or slug."""
    root = root or exercises_dir()
    for path in sorted(root.glob("*/manifest.toml")):
        name = path.parent.name
        num, _, slug = name.partition("-")
        if exercise_id in (name, num, slug) or exercise_id.lstrip("0") == num.lstrip("0"):
            return load(path)
    known = ", ".join(p.parent.name for p in sorted(root.glob("*/manifest.toml")))
    raise ManifestError(f"no exercise {exercise_id!r} (known: {known or 'none'})")
