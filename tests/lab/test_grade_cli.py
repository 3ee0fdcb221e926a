"""`lab grade` / `lab exercise` as a user runs them (`python -m lab.grade`), manifest
validation, the generated README section, and batch grading."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lab.grade import manifest as manifest_mod
from lab.grade import readme
from lab.grade.cli import main
from lab.grade.runner import grade_batch

from .grade_helpers import EX01, REPO, leftovers, reference_submission, starter_submission


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    assert leftovers() == {}


def test_exercise_list_starts_each_line_with_the_id(capsys):
    assert main(["exercise", "list"]) == 0
    assert capsys.readouterr().out.startswith("01-request-parsing ")


def test_exercise_start_copies_the_starter_and_refuses_to_overwrite(tmp_path, capsys):
    dest = tmp_path / "ws"
    assert main(["exercise", "start", "01", str(dest)]) == 0
    assert (dest / "parser.py").read_text() == (EX01.directory / "starter" / "parser.py").read_text()
    assert (dest / "README.md").exists()
    assert main(["exercise", "start", "01", str(dest)]) == 1
    assert main(["exercise", "show", "01-request-parsing"]) == 0
    assert "What is checked" in capsys.readouterr().out


def test_python_dash_m_grade_formats_and_exit_codes(tmp_path):
    sub = reference_submission(tmp_path / "ref")
    base = [sys.executable, "-m", "lab.grade", "-e", "01", "-s", str(sub), "--seed", "3", "--only", "simple-get", "-q"]
    for fmt in ("text", "json", "gradescope", "junit", "github"):
        out = tmp_path / f"out.{fmt}"
        p = subprocess.run([*base, "--format", fmt, "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert out.read_text()
    assert json.loads((tmp_path / "out.gradescope").read_text())["score"] == 2.0
    p = subprocess.run([*base[:-3], "--only", "nope"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no check nope" in p.stderr


def test_failing_submission_exits_1_and_results_file_is_kept(tmp_path):
    sub = starter_submission(tmp_path / "s")
    results = tmp_path / "r.json"
    rc = main(["-e", "01", "-s", str(sub), "--seed", "1", "--stage", "1", "--results", str(results), "-q", "-o", str(tmp_path / "t.txt")])
    assert rc == 1
    data = json.loads(results.read_text())
    assert data["complete"] and data["score"] == 0


def test_batch_writes_one_file_per_student_and_a_gradebook(tmp_path, capsys):
    batch = tmp_path / "class"
    reference_submission(batch / "alice")
    starter_submission(batch / "bob")
    rows = grade_batch(EX01, batch, tmp_path / "out", jobs=2, seed=5, only=["simple-get", "header-fields"],
                       stream=sys.stderr)
    assert [r["student"] for r in rows] == ["alice", "bob"]
    assert (tmp_path / "out" / "alice.json").exists() and (tmp_path / "out" / "bob.json").exists()
    with open(tmp_path / "out" / "gradebook.csv") as f:
        book = {r["student"]: r for r in csv.DictReader(f)}
    assert float(book["alice"]["score"]) == 5.0 and float(book["bob"]["score"]) == 0.0
    assert "2/2 graded" in capsys.readouterr().err


def test_readme_what_is_checked_is_up_to_date():
    for m in manifest_mod.all_exercises():
        text = (m.directory / "README.md").read_text()
        assert readme.render(m, text) == text, f"run `python -m lab.grade.readme` ({m.id})"


def test_readme_hides_hidden_checks_details():
    section = readme.section(EX01)
    for c in EX01.all_checks:
        if c.hidden:
            assert c.description not in section


BAD = [
    ('visibility = "visible"', 'visibility = "sometimes"', "visibility 'sometimes'"),
    ('name = "header-fields"', 'name = "simple-get"', "duplicate check name"),
    ('name = "header-fields"', 'name = "no-such-body"', "no check body"),
    ('"parser.py" = "protocols.http1.parser"\n', "", "[replaces] has no lab module"),
    ("points = 3\n", "points = -1\n", "points must be >= 0"),
]


@pytest.mark.parametrize("old,new,message", BAD)
def test_invalid_manifests_are_refused_with_a_precise_message(tmp_path, old, new, message):
    src = (EX01.directory / "manifest.toml").read_text()
    assert old in src
    d = tmp_path / "01-request-parsing"
    d.mkdir()
    (d / "manifest.toml").write_text(src.replace(old, new, 1))
    with pytest.raises(manifest_mod.ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        manifest_mod.load(d / "manifest.toml")


def test_starter_keeps_the_reference_public_names_and_signatures():
    import ast
    import inspect

    def api(path: Path) -> dict[str, str]:
        tree = ast.parse(path.read_text())
        out = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                out[node.name] = ast.unparse(node.args)
            if isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, ast.FunctionDef) and (not sub.name.startswith("_") or sub.name == "__init__"):
                        out[f"{node.name}.{sub.name}"] = ast.unparse(sub.args)
        return out

    def docs(path: Path) -> dict[str, str | None]:
        tree = ast.parse(path.read_text())
        out = {}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                out[node.name] = ast.get_docstring(node)
        return out

    for f in EX01.files:
        ref_docs, starter_docs = docs(REPO / "protocols" / "http1" / f), docs(EX01.directory / "starter" / f)
        assert {k: ref_docs.get(k) for k in starter_docs} == starter_docs, f"{f}: docstrings differ from the reference"
        ref = api(REPO / "protocols" / "http1" / f)
        starter = api(EX01.directory / "starter" / f)
        assert {k: v for k, v in ref.items() if k in starter} == starter
        public = {k for k in ref if k != "diagnose_fields"}  # a private helper of parse_fields
        assert public <= set(starter), public - set(starter)


def test_gradescope_zip_and_run_autograder_produce_results_json(tmp_path):
    import os
    import zipfile

    from lab.grade.gradescope import build

    zpath = tmp_path / "autograder.zip"
    names = build("01", zpath)
    assert {"run_autograder", "setup.sh", "EXERCISE", "lab/grade/runner.py", "protocols/http1/parser.py",
            "exercises/01-request-parsing/manifest.toml"} <= set(names)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zpath) as z:
        z.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    # a student who uploaded a folder: the script finds the files inside it
    starter_submission(root / "submission" / "my-work")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "LAB_PYTHON": sys.executable}
    p = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    assert doc["score"] == 0 and doc["max_score"] == EX01.max_score and len(doc["tests"]) == len(EX01.all_checks)
