"""Starters are made from their reference modules (`make starters`, lab/grade/starters.py)
and mirror them (STYLE.md rule 9): every function, class and method, private ones too,
with the reference's arguments and docstring; every stub raises NotImplementedError with
a hint worth reading. The committed starters are exactly what the generator makes, so a
reference that gains, loses or renames a function fails here until `make starters`."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lab.grade import starters
from lab.grade.manifest import all_exercises, find_exercise
from lab.grade.starters import Plan, StarterError, plans, render, starter_texts

from .exercise_helpers import module_path

EXERCISES = all_exercises()


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
    for ex in EXERCISES:
        for file, module in ex.modules():
            yield pytest.param(ex, file, module, id=f"{ex.id}/{file}")


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda ex: ex.id)
def test_committed_starters_are_what_the_generator_makes(ex):
    for file, text in starter_texts(ex).items():
        assert (ex.directory / "starter" / file).read_text() == text, f"{ex.id}/{file}: run `make starters`"


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


@pytest.mark.parametrize("ex,file,module", list(_pairs()))
def test_starter_uses_no_name_it_does_not_define(ex, file, module):
    """pyflakes finds nothing but imports kept for a hint: a given helper never calls a
    constant the plan dropped."""
    from pyflakes import checker  # a test dependency (pyproject.toml)

    text = (ex.directory / "starter" / file).read_text()
    found = checker.Checker(ast.parse(text), file).messages
    assert [str(m) for m in found if type(m).__name__ != "UnusedImport"] == []


def test_exercises_07_and_08_share_one_jobs_starter():
    assert starter_texts(find_exercise("07"))["jobs.py"] == starter_texts(find_exercise("08"))["jobs.py"]


# -- what the generator does with a reference that changes --------------------------------
EX01 = find_exercise("01")
PARSER = module_path("protocols.http1.parser").read_text()
HEAD = module_path("protocols.http1.head").read_text()


def test_a_function_the_reference_gains_stops_the_generator():
    gained = PARSER.replace("    def _content_length(", "    def _peek(self) -> None:\n        pass\n\n"
                                                         "    def _content_length(", 1)
    with pytest.raises(StarterError, match=r"\[parser.py\]: say whether each is a stub.*RequestParser\._peek"):
        render(gained, plans(EX01)["parser.py"])
    with pytest.raises(StarterError, match="helper"):
        render(HEAD + "\n\ndef helper() -> None:\n    pass\n", plans(EX01)["head.py"])


def test_a_function_the_reference_renames_stops_the_generator():
    renamed = HEAD.replace("def header_tokens(", "def field_tokens(")
    with pytest.raises(StarterError, match="not in the reference: header_tokens"):
        render(renamed, plans(EX01)["head.py"])


def test_a_constant_the_reference_gains_is_given():
    text = render(HEAD.replace("\n_VERSIONS =", "\nMAX_NAME = 64\n_VERSIONS =", 1), plans(EX01)["head.py"])
    assert "\nMAX_NAME = 64\n" in text


SOURCE = '''"""A module: its first paragraph.

Its second paragraph.

How the reference does it.
"""
from __future__ import annotations

import heapq
import json
import re
from os import path, sep

from .errors import HTTPError

__all__ = ["Box", "solve"]

# RFC 0 §1: the limit.
LIMIT = 10
_TABLE = {1: 2}  # part of the solution


def solve(x: int) -> int:
    """Solve it."""
    # RFC 0 §2: "It MUST be solved."
    if x > LIMIT:
        raise HTTPError(400, "too big")
    return _TABLE.get(x, x)
    # (a comment at the end of the body goes with it)


def _helper(x: int) -> str:
    return json.dumps(x)


@dataclass
class Box:
    """A box."""

    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = re.compile("a")
        self.b = path.join("a", "b")

    @property
    def size(self) -> int:
        return 1
'''

PLAN = Plan(
    "test", preamble="The starter: read me.", paragraphs=2, given=frozenset({"_helper"}),
    drop=frozenset({"_TABLE", "Box.__slots__"}), stubs={"solve": "raise HTTPError(400) past LIMIT; use heapq",
                                                         "Box.size": "the size"},
    replace={"Box.__init__": "self.a = None  # yours"},
)

EXPECTED = '''"""A module: its first paragraph.

The starter: read me.

Its second paragraph.
"""
from __future__ import annotations

import heapq
import json

from .errors import HTTPError

__all__ = ["Box", "solve"]

# RFC 0 §1: the limit.
LIMIT = 10


def solve(x: int) -> int:
    """Solve it."""
    # RFC 0 §2: "It MUST be solved."
    raise NotImplementedError("raise HTTPError(400) past LIMIT; use heapq")


def _helper(x: int) -> str:
    return json.dumps(x)


@dataclass
class Box:
    """A box."""

    def __init__(self) -> None:
        self.a = None  # yours

    @property
    def size(self) -> int:
        raise NotImplementedError("the size")
'''


def test_render_keeps_signatures_docstrings_and_what_is_given():
    assert render(SOURCE, PLAN) == EXPECTED


def test_render_replaces_a_constant_whole_and_wraps_a_long_hint():
    plan = Plan("test", given=frozenset({"_helper", "Box"}), replace={"_TABLE": "_TABLE = {}  # yours"},
                stubs={"solve": "word " * 40})
    text = render(SOURCE, plan)
    assert "\n_TABLE = {}  # yours\n" in text
    tree = ast.parse(text)
    raised = next(n for n in ast.walk(tree) if isinstance(n, ast.Raise))
    assert raised.exc.args[0].value == "word " * 40
    assert max(len(line) for line in text.splitlines()) <= starters.WIDTH


def test_render_refuses_a_stub_that_is_not_a_function():
    with pytest.raises(StarterError, match="only a function can be a stub"):
        render(SOURCE, Plan("test", given=frozenset({"_helper", "Box", "solve"}), stubs={"LIMIT": "no"}))


def test_check_names_a_stale_starter_and_writes_nothing(monkeypatch, capsys):
    ex = find_exercise("03")
    path = ex.directory / "starter" / "body.py"
    before = path.read_text()
    monkeypatch.setattr(starters, "starter_texts", lambda m: {"body.py": before + "# changed\n"})
    assert starters.main(["--check", "03"]) == 1
    assert "exercises/03-chunked/starter/body.py: out of date" in capsys.readouterr().out
    assert path.read_text() == before


def test_lab_exercise_starters_check_passes_on_the_committed_starters(capsys):
    from lab.cli import main

    assert main(["exercise", "starters", "--check"]) == 0
    assert capsys.readouterr().out == ""
