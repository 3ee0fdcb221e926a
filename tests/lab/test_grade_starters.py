"""The starters of exercises 07-12 mirror their reference modules (STYLE.md rule 9):
every function, class and method, private ones too, with the reference's arguments
and docstring; every stub raises NotImplementedError with a hint worth reading."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lab.grade.manifest import find_exercise

from .exercise_helpers import module_path

EXERCISES = ["07", "08", "09", "10", "11", "12"]


def _api(path: Path) -> dict[str, tuple[str, str | None]]:
    tree = ast.parse(path.read_text())
    out: dict[str, tuple[str, str | None]] = {}

    def visit(body, prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
                returns = ast.unparse(node.returns) if node.returns else ""
                out[prefix + node.name] = (f"{kind}{ast.unparse(node.args)} -> {returns}", ast.get_docstring(node))
            elif isinstance(node, ast.ClassDef):
                out[prefix + node.name] = ("class", ast.get_docstring(node))
                visit(node.body, prefix + node.name + ".")

    visit(tree.body, "")
    return out


def _pairs():
    for ex_id in EXERCISES:
        ex = find_exercise(ex_id)
        for file, module in ex.modules():
            yield pytest.param(ex, file, module, id=f"{ex.id}/{file}")


@pytest.mark.parametrize("ex,file,module", list(_pairs()))
def test_starter_mirrors_the_reference(ex, file, module):
    ref, starter = _api(module_path(module)), _api(ex.directory / "starter" / file)
    assert set(ref) == set(starter), f"names differ: {sorted(set(ref) ^ set(starter))}"
    assert ref == starter, ", ".join(k for k in ref if ref[k] != starter[k])


@pytest.mark.parametrize("ex,file,module", list(_pairs()))
def test_starter_stubs_raise_not_implemented_with_a_hint(ex, file, module):
    tree = ast.parse((ex.directory / "starter" / file).read_text())
    stubs = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and \
                getattr(node.exc.func, "id", "") == "NotImplementedError":
            stubs += 1
            hint = node.exc.args[0].value if node.exc.args and isinstance(node.exc.args[0], ast.Constant) else ""
            assert len(hint) > 20, f"a stub without a hint: {hint!r}"
    assert stubs
