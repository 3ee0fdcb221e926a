"""Function checks: call the student's functions in a sandboxed harness and compare the
values with what the RFC requires.

A ``CallCase`` is an expression over the replaced modules (``writer.encode_chunk(b"abc")``)
and what it must give: a value, a predicate ``judge(value) -> str | None`` (what is
wrong, if anything), or an ``HTTPError`` status. ``data`` is the case's input bytes,
shown to the student and grepped for by the kit test when the check is hidden.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from .. import feedback
from ..sandbox import Sandbox, neutralize
from . import CaseResult, Check, CheckOutcome, Context

__all__ = ["CallCase", "CallCheck", "HARNESS"]

HARNESS = Path(__file__).resolve().parents[1] / "harness" / "call_harness.py"


@dataclass(frozen=True)
class CallCase:
    id: str
    expr: str
    rule: str
    expect: object = None  # the value; ignored when judge or status is given
    judge: object = None  # callable(value) -> str | None
    status: int | None = None  # an HTTPError with this status is expected
    raises: str | None = None  # an exception of this type name is expected
    data: bytes = b""
    show: str = ""  # what to show as "sent" (default: the expression)


class CallCheck(Check):
    def __init__(self, cases: list[CallCase], helpers: tuple[str, ...] = ()) -> None:
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids)), f"duplicate case ids in {ids}"
        self.cases = cases
        self.helpers = helpers

    def run(self, ctx: Context) -> CheckOutcome:
        job = {
            "modules": [[str(ctx.submission / f), m] for f, m in ctx.manifest.modules()],
            "banned": ctx.manifest.banned(),
            "helpers": list(self.helpers),
            "cases": [{"id": c.id, "expr": c.expr} for c in self.cases],
        }
        env = {"PYTHONPATH": str(ctx.lab_root)} if ctx.lab_root else {}
        box = Sandbox(["python", "-s", str(HARNESS)], workdir=ctx.submission, limits=ctx.limits, env=env)
        box.start(json.dumps(job).encode())
        result = box.wait(ctx.limits.wall_seconds)
        lines = [json.loads(x) for x in result.channel.decode("utf-8", "replace").splitlines() if x.startswith("{")]
        outcome = CheckOutcome(status="failed", stdout=neutralize(result.stdout, total=result.stdout_total),
                               stderr=neutralize(result.stderr, total=result.stderr_total))
        banned = [x["banned"] for x in lines if "banned" in x]
        if banned:
            outcome.status = "banned_import"
            outcome.message = f"your code imported {banned[0]}, which this exercise does not allow"
            return outcome
        if result.status in ("timeout", "cpu_limit", "memory_limit", "process_limit", "grader_error"):
            done = {x["id"] for x in lines if "id" in x}
            stuck = next((c.id for c in self.cases if c.id not in done), None)
            outcome.status = result.status
            outcome.message = result.message + (f" (while running case {stuck})" if stuck else "")
            return outcome
        load_errors = [x["load_error"] for x in lines if "load_error" in x]
        if load_errors:
            err = load_errors[0]
            outcome.status = "memory_limit" if err["type"] == "MemoryError" else "crashed"
            outcome.message = neutralize(f"importing your module failed: {err['type']}: {err['message']}")
            return outcome
        if not any("loaded" in x for x in lines):
            outcome.status = "crashed"
            outcome.message = result.message or "the harness ended before loading your module"
            return outcome
        by_id = {x["id"]: x for x in lines if "id" in x}
        passed = 0
        for case in self.cases:
            res = self.judge(case, by_id.get(case.id), result)
            outcome.cases.append(res)
            passed += res.passed
        outcome.fraction = passed / len(self.cases)
        if passed == len(self.cases):
            outcome.status, outcome.fraction = "passed", 1.0
        else:
            outcome.message = f"{passed} of {len(self.cases)} cases passed"
        return outcome

    @staticmethod
    def judge(case: CallCase, got: dict | None, result) -> CaseResult:
        if case.raises is not None:
            expected = f"raise {case.raises}"
        elif case.status is not None:
            expected = f"raise HTTPError(status={case.status})"
        elif case.judge is not None:
            expected = getattr(case.judge, "__doc__", None) or "see the rule"
        else:
            expected = feedback.escape(case.expect) if isinstance(case.expect, bytes) else repr(case.expect)
        res = CaseResult(id=case.id, passed=False, sent=case.show or case.expr, received="", expected=expected,
                         rule=case.rule)
        if got is None:
            res.received = f"(no answer: {result.message or 'the harness stopped'})"
            return res
        if "error" in got:
            err = got["error"]
            where = f" at {err['where'][-1]}" if err.get("where") else ""
            res.received = neutralize(f"raised {err['type']}: {err['message']}{where}").replace("\n", "\\n")
            if case.status is not None and err.get("status") == case.status:
                res.passed = True
            elif case.raises is not None and err["type"] == case.raises:
                res.passed = True
            elif err["type"] == "NotImplementedError":
                res.hint = feedback.hint_for("not_implemented")
            elif case.status is not None and err.get("status"):
                res.hint = feedback.hint_for("wrong_status")
            return res
        try:
            value = ast.literal_eval(got["repr"])
        except (ValueError, SyntaxError):
            value = got["repr"]
        res.received = feedback.escape(value) if isinstance(value, bytes) else neutralize(repr(value))
        if case.status is not None or case.raises is not None:
            res.hint = feedback.hint_for("accepted_bad_input") if case.status else f"this must raise {case.raises}"
            return res
        if case.judge is not None:
            why = case.judge(value)
            res.passed = why is None
            res.hint = why or ""
            return res
        res.passed = value == case.expect
        if not res.passed and isinstance(value, bytes) and isinstance(case.expect, bytes):
            res.caret_in, res.caret = "received", feedback.first_difference(feedback.escape(case.expect), res.received)
        return res
