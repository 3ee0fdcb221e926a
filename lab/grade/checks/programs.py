"""Program checks: run grader-written code against the student's module in the sandbox
(``harness/program_harness.py``), then judge each returned value here, in the grader.

A ``ProgramCheck`` has a ``program`` (Python source defining ``run(module, args)``: how to
call the student's code for one case, and what to send back) and ``Call`` cases: the
``args``, the ``rule`` the case enforces, what the student's code was given (``sent``,
shown escaped) and a ``judge(result) -> Verdict`` that runs in the grader. The judge
may use the lab's own modules as the spec-exact referee (the SSE parser judges what a
student's encoder wrote; a frame decoder reads the bytes a student's encoder made):
they run here, never next to student code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import feedback
from ..sandbox import Sandbox, neutralize
from . import CaseResult, Check, CheckOutcome, Context

__all__ = ["Call", "ProgramCheck", "Verdict", "raised"]

HARNESS = Path(__file__).resolve().parents[1] / "harness" / "program_harness.py"


@dataclass
class Verdict:
    ok: bool
    expected: str
    got: str
    hint: str = ""
    caret_in: str = ""  # "received" puts a caret at the first difference of expected/got
    extra: str = ""  # e.g. a hexdump with decoded fields, shown under `got`


@dataclass
class Call:
    id: str
    args: dict | Callable  # or args(rng) -> dict, for seeded inputs (split points)
    judge: Callable[[dict], Verdict]  # gets {"value": ...} or {"exception": {...}}, and the "args" sent
    rule: str
    sent: str = ""
    reproduce: str = ""


@dataclass
class ProgramCheck(Check):
    program: str
    calls: list[Call] = field(default_factory=list)
    module: str | None = None  # the module ``run`` gets; default: the manifest's reference
    drop_privileges: bool | None = None  # None: the sandbox's choice (``nobody`` when root)

    def run(self, ctx: Context) -> CheckOutcome:
        job = {
            "modules": [[str(ctx.submission / f), m] for f, m in ctx.manifest.modules()],
            "module": self.module or ctx.manifest.reference,
            "banned": ctx.manifest.banned(),
            "program": self.program,
            "cases": [{"id": c.id, "args": c.args(ctx.rng) if callable(c.args) else c.args} for c in self.calls],
        }
        env = {"PYTHONPATH": str(ctx.lab_root)} if ctx.lab_root else {}
        box = Sandbox(["python", "-s", str(HARNESS)], workdir=ctx.submission, limits=ctx.limits, env=env,
                      drop_privileges=self.drop_privileges)
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
            outcome.status = result.status
            done = {x["id"] for x in lines if "id" in x}
            stuck = next((c.id for c in self.calls if c.id not in done), None)
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
        sent_args = {c["id"]: c["args"] for c in job["cases"]}
        passed = 0
        for call in self.calls:
            got = by_id.get(call.id)
            res = self.judge(ctx, call, {**got, "args": sent_args[call.id]} if got else None, result)
            outcome.cases.append(res)
            passed += res.passed
        if result.status == "crashed" and passed < len(self.calls):
            outcome.status, outcome.message = "crashed", result.message
            return outcome
        outcome.fraction = passed / len(self.calls)
        if passed == len(self.calls):
            outcome.status, outcome.fraction = "passed", 1.0
        else:
            outcome.message = f"{passed} of {len(self.calls)} cases passed"
        return outcome

    def judge(self, ctx: Context, call: Call, got: dict | None, result) -> CaseResult:
        res = CaseResult(id=call.id, passed=False, sent=call.sent, received="", expected="", rule=call.rule,
                         reproduce=call.reproduce)
        if got is None:
            res.received = f"(no answer: {result.message or 'the harness stopped'})"
            return res
        if "exception" in got and got["exception"]["type"] == "NotImplementedError":
            exc = got["exception"]
            res.received = neutralize(f"raised NotImplementedError: {exc['message']}").replace("\n", "\\n")
            res.hint = feedback.hint_for("not_implemented")
            return res
        try:
            verdict = call.judge(got)
        except Exception as exc:  # noqa: BLE001 - a value of the wrong shape is the student's
            verdict = Verdict(False, "", f"(a value the grader cannot read: {type(exc).__name__}: {exc})")
        res.passed = verdict.ok
        res.expected = verdict.expected
        res.received = neutralize(verdict.got).replace("\n", "\\n")
        if verdict.extra:  # e.g. a hexdump: its own lines, indented under `got`
            res.received += "".join("\n" + " " * 20 + line for line in neutralize(verdict.extra, limit=4000).splitlines())
        if not verdict.ok:
            res.hint = verdict.hint
            if verdict.caret_in == "received" and not verdict.extra:  # a hexdump below would hide it
                res.caret_in, res.caret = "received", feedback.first_difference(verdict.expected, res.received)
        return res


def raised(got: dict) -> str:
    exc = got.get("exception")
    if not exc:
        return ""
    where = f" at {exc['where'][-1]}" if exc.get("where") else ""
    return f"raised {exc['type']}: {exc['message']}{where}"
