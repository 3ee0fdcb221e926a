"""Exporters: one native results.json in, every format instructors import out.

- ``json``: the native results (schema ``lab-grade/1``), as the runner wrote them;
- ``text``: what a student reads in a terminal (``feedback.render_text``);
- ``gradescope``: Gradescope's autograder ``results.json`` (one test per check);
- ``junit``: JUnit XML, one ``testcase`` per check, points as ``properties``;
- ``github``: GitHub Classroom's autograding runner result (``version: 1``), whose
  base64 is also appended as ``result=`` to ``$GITHUB_OUTPUT`` when that is set.

Every total comes from ``scoring``; hidden checks carry only name, category, status and
points in every format (no input, no expected bytes, no message).
"""
from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET

from . import scoring
from .feedback import render_check, render_text

__all__ = ["to_json", "to_text", "to_gradescope", "to_junit", "to_github", "EXPORTERS", "public_check"]

# Gradescope and GitHub know only pass/fail per test.
_PASS = {"passed"}
_ERRORS = {"grader_error"}


def public_check(check: dict) -> dict:
    """What a hidden check may show anywhere: name, category, status and points."""
    if not check["hidden"]:
        return check
    keep = ("name", "number", "stage", "category", "visibility", "hidden", "partial", "max_score", "score", "status")
    return {k: check[k] for k in keep}


def _check_output(check: dict) -> str:
    return "\n".join(line.strip("\n") for line in render_check(check))


def to_json(results: dict, full: bool = False) -> str:
    """The native results; hidden checks reduced to ``public_check`` unless ``full``
    (the instructor's copy, ``lab grade --results FILE``)."""
    if not full:
        results = {**results, "checks": [public_check(c) for c in results["checks"]]}
    return json.dumps(results, indent=2) + "\n"


def to_text(results: dict) -> str:
    return render_text(results)


def to_gradescope(results: dict) -> str:
    checks = results["checks"]
    tests = []
    for c in checks:
        tests.append({
            "score": c["score"],
            "max_score": c["max_score"],
            "status": "passed" if c["status"] in _PASS else "failed",
            "name": c["name"],
            "number": c["number"],
            "output": _check_output(c),
            "output_format": "text",
            "tags": [c["category"], c["stage"]],
            "visibility": c["visibility"],
            "extra_data": {"status": c["status"]} if c["hidden"] else {"status": c["status"], "duration": c["duration"]},
        })
    summary = f"seed {results['seed']}; {sum(c['status'] == 'passed' for c in checks)} of {len(checks)} checks passed"
    if results.get("banned"):
        summary += "\n" + "\n".join(f"banned import: {m}" for m in results["banned"])
    doc = {
        "score": scoring.total(checks),
        "max_score": scoring.max_total(checks),
        "execution_time": round(sum(c.get("duration", 0.0) for c in checks), 3),
        "output": summary,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {"exercise": results["exercise"], "seed": results["seed"], "schema": results["schema"]},
        "tests": tests,
    }
    return json.dumps(doc, indent=2) + "\n"


def to_junit(results: dict) -> str:
    checks = results["checks"]
    suite = ET.Element(
        "testsuite",
        name=results["exercise"],
        tests=str(len(checks)),
        failures=str(sum(c["status"] not in _PASS | _ERRORS | {"not_run"} for c in checks)),
        errors=str(sum(c["status"] in _ERRORS for c in checks)),
        skipped=str(sum(c["status"] == "not_run" for c in checks)),
        time=f"{sum(c.get('duration', 0.0) for c in checks):.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("seed", results["seed"]), ("score", scoring.total(checks)), ("max_score", scoring.max_total(checks))):
        ET.SubElement(props, "property", name=name, value=str(value))
    for c in checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"{results['exercise']}.{c['stage']}", name=f"{c['number']} {c['name']}",
            time=f"{c.get('duration', 0.0):.3f}",
        )
        cprops = ET.SubElement(case, "properties")
        for name in ("score", "max_score", "status", "category", "visibility"):
            ET.SubElement(cprops, "property", name=name if name != "score" else "points", value=str(c[name]))
        text = _check_output(c)
        if c["status"] == "not_run":
            ET.SubElement(case, "skipped", message="not run")
        elif c["status"] in _ERRORS:
            ET.SubElement(case, "error", message=c["status"], type=c["status"]).text = text
        elif c["status"] not in _PASS:
            ET.SubElement(case, "failure", message=c["status"], type=c["status"]).text = text
    root = ET.Element("testsuites", name="lab grade", tests=str(len(checks)))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def github_result(results: dict) -> dict:
    checks = results["checks"]
    tests = []
    for c in checks:
        status = "pass" if c["status"] in _PASS else ("error" if c["status"] in _ERRORS else "fail")
        tests.append({
            "name": f"{c['number']} {c['name']}",
            "status": status,
            "message": _check_output(c),
            "test_code": "" if c["hidden"] else c["reproduce"],
            "filename": "",
            "line_no": 0,
            "execution_time": f"{c.get('duration', 0.0):.3f}s",
            "score": c["score"],
        })
    overall = "pass" if all(c["status"] in _PASS for c in checks) else (
        "error" if any(c["status"] in _ERRORS for c in checks) else "fail")
    return {"version": 1, "status": overall, "max_score": scoring.max_total(checks), "tests": tests}


def to_github(results: dict) -> str:
    return json.dumps(github_result(results), indent=2) + "\n"


def github_output_line(results: dict) -> str:
    """``result=<base64>``: what the autograding reporter action reads."""
    raw = json.dumps(github_result(results)).encode()
    return "result=" + base64.b64encode(raw).decode() + "\n"


EXPORTERS = {
    "text": to_text,
    "json": to_json,
    "gradescope": to_gradescope,
    "junit": to_junit,
    "github": to_github,
}
