"""Exporters: all totals agree (a property test over random results, stdlib `random`
with fixed seeds), and hidden checks leak nothing in any format."""
from __future__ import annotations

import json
import random
import re
import xml.etree.ElementTree as ET

import pytest

from lab.grade import export, scoring
from lab.grade.checks import STATUSES

SECRET = "SECRET-INPUT-BYTES"


def random_results(rng: random.Random) -> dict:
    checks = []
    stages = ["s1", "s2", "s3"][: rng.randint(1, 3)]
    for i in range(rng.randint(1, 25)):
        status = rng.choice(STATUSES)
        points = rng.choice([0, 0.5, 1, 2, 3, 7, rng.randint(1, 40) / 4])
        partial = rng.random() < 0.5
        fraction = rng.random()
        visibility = rng.choice(["visible", "hidden", "after_due_date", "after_published"])
        stage = rng.choice(stages)
        checks.append({
            "name": f"check-{i}", "number": f"{stages.index(stage) + 1}.{i}", "stage": stage,
            "category": rng.choice(["a", "b"]), "description": "", "visibility": visibility,
            "hidden": visibility != "visible", "partial": partial, "max_score": points,
            "score": scoring.check_score(status, fraction, points, partial), "status": status,
            "message": f"message {SECRET}", "duration": round(rng.random(), 3),
            "cases": [{"id": "c", "passed": False, "sent": SECRET, "received": SECRET, "expected": SECRET,
                       "rule": "r", "feed": "whole", "caret_in": "sent", "caret": 0, "hint": "", "reproduce": SECRET}],
            "stdout": SECRET, "stderr": SECRET, "reproduce": f"lab grade --only check-{i}",
        })
    return {
        "schema": "lab-grade/1", "exercise": "99-prop", "title": "property", "submission": "/s", "seed": rng.randint(0, 2**31),
        "stage": None, "only": None, "started": "", "finished": "", "complete": True, "banned": [], "isolation": {},
        "stages": [{"id": s, "title": s, "status": "failed"} for s in stages], "checks": checks,
        "score": scoring.total(checks), "max_score": scoring.max_total(checks),
    }


def totals(results: dict) -> dict[str, tuple[float, float]]:
    out = {"native": (results["score"], results["max_score"])}
    text = export.to_text(results)
    m = re.search(r"^Score: ([\d.]+)/([\d.]+)", text, re.M)
    out["text"] = (float(m.group(1)), float(m.group(2)))
    gs = json.loads(export.to_gradescope(results))
    out["gradescope"] = (gs["score"], gs["max_score"])
    out["gradescope-tests"] = (round(sum(t["score"] for t in gs["tests"]), 2), round(sum(t["max_score"] for t in gs["tests"]), 2))
    root = ET.fromstring(export.to_junit(results))
    suite = root.find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    out["junit"] = (float(props["score"]), float(props["max_score"]))
    pts = [{p.get("name"): p.get("value") for p in tc.find("properties")} for tc in suite.findall("testcase")]
    out["junit-cases"] = (round(sum(float(p["points"]) for p in pts), 2), round(sum(float(p["max_score"]) for p in pts), 2))
    gh = json.loads(export.to_github(results))
    out["github"] = (round(sum(t["score"] for t in gh["tests"]), 2), gh["max_score"])
    return out


@pytest.mark.parametrize("seed", range(40))
def test_all_formats_agree_on_the_totals(seed):
    results = random_results(random.Random(seed))
    got = totals(results)
    expected = (scoring.total(results["checks"]), scoring.max_total(results["checks"]))
    assert {k: (round(a, 2), round(b, 2)) for k, (a, b) in got.items()} == {k: expected for k in got}


@pytest.mark.parametrize("seed", range(10))
def test_hidden_checks_leak_nothing_in_any_format(seed):
    results = random_results(random.Random(1000 + seed))
    for c in results["checks"]:
        if not c["hidden"]:
            c.update(message="", cases=[], stdout="", stderr="")
    for name, fmt in export.EXPORTERS.items():
        assert SECRET not in fmt(results), name


def test_only_passed_earns_full_points_and_limits_earn_nothing():
    assert scoring.check_score("passed", 0.0, 3, False) == 3
    assert scoring.check_score("failed", 0.5, 3, True) == 1.5
    assert scoring.check_score("failed", 0.5, 3, False) == 0
    for status in ("timeout", "memory_limit", "cpu_limit", "process_limit", "crashed", "banned_import", "not_run", "grader_error"):
        assert scoring.check_score(status, 1.0, 3, True) == 0


def test_junit_marks_not_run_as_skipped_and_grader_errors_as_errors():
    results = random_results(random.Random(5))
    root = ET.fromstring(export.to_junit(results))
    suite = root.find("testsuite")
    n_skip = sum(c["status"] == "not_run" for c in results["checks"])
    n_err = sum(c["status"] == "grader_error" for c in results["checks"])
    assert int(suite.get("skipped")) == n_skip and int(suite.get("errors")) == n_err
    assert len(suite.findall("testcase/skipped")) == n_skip


def test_github_output_line_is_base64_of_the_result():
    import base64

    results = random_results(random.Random(9))
    line = export.github_output_line(results)
    assert line.startswith("result=")
    assert json.loads(base64.b64decode(line[7:]))["version"] == 1
