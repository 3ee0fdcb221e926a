"""The starters of exercises 07-12 mirror their reference modules (STYLE.md rule 9):
every public function, class and method is there with the reference's signature and
docstring, and every body the student writes raises NotImplementedError."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lab.grade.manifest import find_exercise

from .exercise_helpers import module_path

EXERCISES = ["07", "08", "09", "10", "11", "12"]


def _defs(path: Path) -> dict[str, ast.AST]:
    tree = ast.parse(path.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        if isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef):
                    out[f"{node.name}.{sub.name}"] = sub
    return out


def _pairs():
    for ex_id in EXERCISES:
        ex = find_exercise(ex_id)
        for file, module in ex.modules():
            if module_path(module).exists():
                yield pytest.param(ex, file, module, id=f"{ex.id}/{file}")


@pytest.mark.parametrize("ex,file,module", list(_pairs()))
def test_starter_mirrors_the_reference(ex, file, module):
    ref, starter = _defs(module_path(module)), _defs(ex.directory / "starter" / file)
    public = {k for k in ref if not any(part.startswith("_") and part != "__init__" for part in k.split("."))}
    assert public <= set(starter), f"missing from the starter: {sorted(public - set(starter))}"
    for name in starter.keys() & ref.keys():
        r, st = ref[name], starter[name]
        assert ast.get_docstring(st) == ast.get_docstring(r), f"{name}: docstring differs from the reference"
        if isinstance(r, ast.FunctionDef):
            assert ast.unparse(st.args) == ast.unparse(r.args), f"{name}: signature differs from the reference"
            returns = [ast.unparse(x.returns) if x.returns else None for x in (st, r)]
            assert returns[0] == returns[1], f"{name}: return annotation differs from the reference"


@pytest.mark.parametrize("ex,file,module", list(_pairs()))
def test_starter_bodies_raise_not_implemented(ex, file, module):
    for name, node in _defs(ex.directory / "starter" / file).items():
        if not isinstance(node, ast.FunctionDef) or name.endswith("__init__") or name.endswith("__post_init__"):
            continue
        if name in ("Opcode.is_control", "Job.__init__"):
            continue  # data, given
        raises = [n for n in ast.walk(node) if isinstance(n, ast.Raise)]
        assert any("NotImplementedError" in ast.unparse(r) for r in raises), f"{name} does not raise NotImplementedError"
