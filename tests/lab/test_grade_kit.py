"""`lab kit build`: the student edition has the starters in place, no hidden check (nor
any hidden input byte), and a `make test` that grades the visible checks in place."""
from __future__ import annotations

import importlib
import inspect
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lab.grade import feedback
from lab.grade.kit import build, module_path, visible_manifest_text
from lab.grade.manifest import HIDDEN_PACKAGE, all_exercises, check_registry

from .grade_helpers import REPO


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kit") / "lab"
    build(out)
    return out


def _hidden_inputs() -> list[bytes]:
    inputs = []
    for m in all_exercises():
        registry = check_registry(m)
        for spec in m.all_checks:
            if spec.hidden:
                inputs += [case.data for case in getattr(registry[spec.name], "cases", ()) if len(case.data) >= 8]
    return inputs


def _grade_in_place(kit: Path, exercise: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "lab.grade", "--exercise", exercise, "--in-place", "--quiet", "--format", "text"],
        cwd=kit, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(kit)}, capture_output=True, text=True, timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_every_exercised_module_is_its_starter(kit):
    for m in all_exercises():
        for file, module in m.modules():
            assert module_path(module, kit).read_bytes() == (m.directory / "starter" / file).read_bytes(), module


def test_kit_manifests_hold_only_visible_checks_and_no_hidden_package(kit):
    assert not (kit / "lab" / "grade" / "hidden").exists()
    assert not (kit / "tests").exists()
    for m in all_exercises():
        shipped = tomllib.loads((kit / "exercises" / m.id / "manifest.toml").read_text())
        names = {c["name"] for st in shipped["stages"] for c in st["checks"]}
        assert names == {c.name for c in m.all_checks if not c.hidden}
        assert all(c.get("visibility", "visible") == "visible" for st in shipped["stages"] for c in st["checks"])


def test_no_hidden_input_bytes_anywhere_in_the_kit(kit):
    inputs = _hidden_inputs()
    assert inputs, "no hidden case data found: the test would prove nothing"
    needles = set()
    for data in inputs:
        needles |= {data, repr(data)[2:-1].encode(), feedback.escape(data).encode()}
    for path in kit.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            leaked = [n[:40] for n in needles if n in content]
            assert leaked == [], f"{path.relative_to(kit)} holds hidden input bytes {leaked}"


def _hidden_module(m):
    return importlib.import_module(HIDDEN_PACKAGE + "." + m.checks_module.rpartition(".")[2])


def test_every_hidden_check_body_lives_in_the_hidden_package():
    """For every exercise, each non-visible check's body comes from ``lab.grade.hidden``,
    never from the shipped checks module (which the kit holds)."""
    for m in all_exercises():
        shipped = importlib.import_module(m.checks_module).CHECKS
        hidden = [c.name for c in m.all_checks if c.hidden]
        for name in hidden:
            assert name not in shipped, f"{m.id}: hidden check {name!r} has its body in {m.checks_module}"
            assert name in _hidden_module(m).CHECKS, f"{m.id}: {name!r} missing from the hidden package"
        if not hidden:
            continue
        assert set(_hidden_module(m).CHECKS) <= set(hidden), f"{m.id}: a visible check in the hidden package"


def test_no_hidden_check_name_or_body_in_the_kit_code(kit):
    """No kit file holds a hidden check's defining function or a line of its body, and no
    kit source registers a hidden check's name (the README's table still lists it, as the
    issue wants: name, status and points only)."""
    needles: dict[bytes, str] = {}
    for m in all_exercises():
        hidden = [c.name for c in m.all_checks if c.hidden]
        if not hidden:
            continue
        module = _hidden_module(m)
        for name in hidden:
            needles[f'"{name}"'.encode()] = f"{m.id}: name {name}"
        for fname, fn in vars(module).items():
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                needles[f"def {fname}(".encode()] = f"{m.id}: function {fname}"
        source = inspect.getsource(module)
        body = source[source.index("CHECKS = {"):]
        for line in body.splitlines():
            line = line.strip()
            if len(line) >= 30:
                needles[line.encode()] = f"{m.id}: body line {line[:50]}"
    assert len({v.partition(":")[0] for v in needles.values()}) == 12, "every exercise has hidden checks"
    for path in kit.rglob("*"):
        if not path.is_file():
            continue
        content = path.read_bytes()
        readme = path.name == "README.md"
        leaked = [what for n, what in needles.items() if n in content and not (readme and n.startswith(b'"'))]
        assert leaked == [], f"{path.relative_to(kit)} holds hidden checks: {leaked[:5]}"


def test_visible_manifest_drops_a_stage_left_empty():
    text = ('id = "x"\n[[stages]]\nid = "a"\n[[stages.checks]]\nname = "v"\nvisibility = "visible"\n'
            '[[stages]]\nid = "b"\n[[stages.checks]]\nname = "h"\nvisibility = "hidden"\n')
    doc = tomllib.loads(visible_manifest_text(text))
    assert [s["id"] for s in doc["stages"]] == ["a"]


def test_make_test_in_the_kit_runs_the_visible_checks(kit):
    dry = subprocess.run(["make", "-n", "test"], cwd=kit, capture_output=True, text=True)
    assert dry.returncode == 0 and "-m lab.grade --exercise $ex --in-place" in dry.stdout
    for m in all_exercises():
        assert f"test-{m.id.partition('-')[0]}:" in (kit / "Makefile").read_text()


def test_untouched_kit_scores_zero_and_fails(kit):
    for m in all_exercises():
        rc, out = _grade_in_place(kit, m.id)
        assert rc == 1, out
        assert f"Score: 0/{sum(c.points for c in m.all_checks if not c.hidden):g} " in out, out


def test_reference_modules_in_the_kit_pass_every_visible_check(kit, tmp_path):
    solved = tmp_path / "solved"
    shutil.copytree(kit, solved)
    for m in all_exercises():
        for _, module in m.modules():
            shutil.copyfile(module_path(module, REPO), module_path(module, solved))
    for m in all_exercises():
        rc, out = _grade_in_place(solved, m.id)
        assert rc == 0, out
