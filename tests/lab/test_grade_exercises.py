"""What every exercise must hold to (02 onwards included): starters keep the reference
module's names, signatures and docstrings; the kit and --pcap are reachable from the
lab's CLI; each reference scores 100% run after run (slow)."""
from __future__ import annotations

import ast

import pytest

from lab.grade.kit import module_path
from lab.grade.manifest import all_exercises
from lab.grade.runner import grade

from .grade_helpers import REPO, leftovers, reference_of

EXERCISES = all_exercises()


def _api(path) -> dict[str, tuple[str, str | None]]:
    """Every function, class and method (private ones too): its arguments and docstring."""
    tree = ast.parse(path.read_text())
    out: dict[str, tuple[str, str | None]] = {}

    def visit(body, prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                kind = "async " if isinstance(node, ast.AsyncFunctionDef) else ""
                out[prefix + node.name] = (kind + ast.unparse(node.args), ast.get_docstring(node))
            elif isinstance(node, ast.ClassDef):
                out[prefix + node.name] = ("class", ast.get_docstring(node))
                visit(node.body, prefix + node.name + ".")

    visit(tree.body, "")
    return out


# Exercise 01's starter leaves out two private helpers; test_grade_cli checks its public API.
@pytest.mark.parametrize("m", [m for m in EXERCISES if m.id[:2] != "01"], ids=lambda m: m.id)
def test_starters_keep_every_name_signature_and_docstring_of_the_reference(m):
    for file, module in m.modules():
        ref, starter = _api(module_path(module, REPO)), _api(m.directory / "starter" / file)
        assert set(ref) == set(starter), f"{file}: names differ: {set(ref) ^ set(starter)}"
        assert ref == starter, f"{file}: " + ", ".join(k for k in ref if ref[k] != starter[k])


@pytest.mark.parametrize("m", EXERCISES, ids=lambda m: m.id)
def test_starters_raise_not_implemented_with_a_hint(m):
    for file in m.files:
        text = (m.directory / "starter" / file).read_text()
        assert "raise NotImplementedError(" in text
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and getattr(node.exc.func, "id", "") == "NotImplementedError":
                hint = node.exc.args[0].value if node.exc.args and isinstance(node.exc.args[0], ast.Constant) else ""
                assert len(hint) > 20, f"{file}: a stub without a hint"


def test_lab_cli_has_kit_and_grade_pcap(tmp_path, capsys):
    from lab.cli import SUBCOMMANDS, build_parser, main

    assert ("kit", "build the student edition", "lab.grade.cli", "configure_kit", "run_kit") in SUBCOMMANDS
    args = build_parser().parse_args(["grade", "-e", "02", "-s", str(tmp_path), "--pcap", str(tmp_path / "caps")])
    assert args.pcap == tmp_path / "caps"
    assert main(["kit", "build", "--out", str(tmp_path / "kit")]) == 0
    assert "hidden checks left out" in capsys.readouterr().out
    assert main(["kit", "build", "--out", str(tmp_path / "kit")]) == 2  # not empty: refused without --force


@pytest.mark.slow
@pytest.mark.parametrize("run", range(5))
@pytest.mark.parametrize("m", [m for m in EXERCISES if m.id[:2] in ("02", "03", "04", "05", "06")], ids=lambda m: m.id)
def test_reference_scores_full_marks_run_after_run(tmp_path, m, run):
    res = grade(m, reference_of(m, tmp_path / "ref"), seed=100 + run)
    assert {c["name"]: (c["message"], c["cases"][:1]) for c in res["checks"] if c["status"] != "passed"} == {}
    assert leftovers() == {}
