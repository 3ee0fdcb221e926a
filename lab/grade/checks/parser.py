"""Parser checks: feed byte strings to the student's RequestParser in a sandboxed
harness and compare the events (or the HTTPError status) with what the RFC requires.

Every case is fed three ways: whole, one byte at a time, and split at points drawn from
the run's seed. A parser that only works on whole input fails the check, and the
feedback says which feeding broke it. Expected events are written out here, from the
RFC, not recorded from the reference: a check must be able to fail the reference too.

Comparison rules (documented for students in the README): consecutive ``Data`` events
are joined (how a body is split into events is the parser's choice); field names are
compared case-insensitively (RFC 9110 §5.1) and shown lowercased; values exactly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import feedback
from ..sandbox import Sandbox, neutralize
from . import CaseResult, Check, CheckOutcome, Context

__all__ = ["Case", "ParserCheck", "accept", "reject", "req", "data", "eom", "closed"]

HARNESS = Path(__file__).resolve().parents[1] / "harness" / "parser_harness.py"
FEEDS = {"whole": "whole", "bytewise": "one byte at a time", "random": "split at seeded points"}


# --- expected events, in canonical form ------------------------------------------


def _fields(fields) -> tuple:
    return tuple((bytes(n).lower(), bytes(v)) for n, v in fields)


def req(method: bytes, target: bytes, version: bytes, headers=()) -> tuple:
    return ("Request", method, target, version, _fields(headers))


def data(payload: bytes) -> tuple:
    return ("Data", payload)


def eom(trailers=()) -> tuple:
    return ("EndOfMessage", _fields(trailers))


def closed() -> tuple:
    return ("ConnectionClosed",)


@dataclass(frozen=True)
class Case:
    """One input and every outcome the RFC allows for it.

    ``outcomes`` holds event lists (tuples of canonical events) and/or ints (an
    HTTPError status). ``at`` is a substring of ``data`` whose first byte is the one
    that breaks the rule: the feedback puts its caret there.
    """

    id: str
    data: bytes
    outcomes: tuple
    rule: str = ""
    at: bytes | None = None
    limits: dict = field(default_factory=dict)
    eof: bool = False
    feeds: tuple = ("whole", "bytewise", "random")


def accept(id: str, raw: bytes, events: list, rule: str = "", **kw) -> Case:
    return Case(id, raw, (tuple(events),), rule, **kw)


def reject(id: str, raw: bytes, status: int | tuple, rule: str, at: bytes | None = None, **kw) -> Case:
    statuses = status if isinstance(status, tuple) else (status,)
    return Case(id, raw, statuses, rule, at, **kw)


# --- rendering -------------------------------------------------------------------


def _b(x: bytes) -> str:
    return "b'" + feedback.escape(x).replace("'", "\\'") + "'"


def render_event(ev: tuple) -> str:
    kind = ev[0]
    if kind == "Request":
        hdrs = ", ".join(f"({_b(n)}, {_b(v)})" for n, v in ev[4])
        return f"Request(method={_b(ev[1])}, target={_b(ev[2])}, version={_b(ev[3])}, headers=[{hdrs}])"
    if kind == "Data":
        return f"Data({_b(ev[1])})"
    if kind == "EndOfMessage":
        return "EndOfMessage(trailers=[" + ", ".join(f"({_b(n)}, {_b(v)})" for n, v in ev[1]) + "])"
    if kind == "ConnectionClosed":
        return "ConnectionClosed()"
    return str(ev[1]) if len(ev) > 1 else kind


def render_outcome(outcome) -> str:
    if isinstance(outcome, int):
        return f"raise HTTPError(status={outcome})"
    return "  ".join(render_event(e) for e in outcome) or "(no events)"


def _from_harness(ev: dict) -> tuple:
    lat = lambda s: s.encode("latin-1")  # noqa: E731
    t = ev["type"]
    if t == "Request":
        return req(lat(ev["method"]), lat(ev["target"]), lat(ev["version"]), [(lat(n), lat(v)) for n, v in ev["headers"]])
    if t == "Data":
        return data(lat(ev["data"]))
    if t == "EndOfMessage":
        return eom([(lat(n), lat(v)) for n, v in ev["trailers"]])
    if t == "ConnectionClosed":
        return closed()
    return ("Unknown", ev.get("repr", "?"))


def _join_data(events: list[tuple]) -> tuple:
    out: list[tuple] = []
    for ev in events:
        if ev[0] == "Data" and out and out[-1][0] == "Data":
            out[-1] = data(out[-1][1] + ev[1])
        elif ev[0] == "Data" and not ev[1]:
            continue  # an empty Data event carries nothing
        else:
            out.append(ev)
    return tuple(out)


# --- the check -------------------------------------------------------------------


def split_points(rng, n: int) -> list[int]:
    """Chunk sizes that add up to ``n``: 1 to 8 cuts at seeded positions."""
    if n < 2:
        return [n]
    cuts = sorted(rng.sample(range(1, n), min(n - 1, rng.randint(1, 8))))
    bounds = [0, *cuts, n]
    return [b - a for a, b in zip(bounds, bounds[1:])]


class ParserCheck(Check):
    """A list of cases, each fed whole, byte-at-a-time and at seeded split points."""

    def __init__(self, cases: list[Case], parser_module: str | None = None) -> None:
        """``parser_module``: whose ``RequestParser`` is fed (default: the exercise's
        reference). An exercise that replaces a module the parser uses (``body.py``)
        feeds the lab's parser, which then runs on the student's module."""
        ids = [c.id for c in cases]
        assert len(ids) == len(set(ids)), f"duplicate case ids in {ids}"
        self.cases = cases
        self.parser_module = parser_module

    def jobs(self, ctx: Context) -> list[tuple[Case, str, list[int]]]:
        runs = []
        for case in self.cases:
            for feed in case.feeds:
                n = len(case.data)
                chunks = {"whole": [n], "bytewise": [1] * n, "random": None}[feed]
                if chunks is None:
                    chunks = split_points(ctx.rng, n)
                runs.append((case, feed, chunks))
        return runs

    def run(self, ctx: Context) -> CheckOutcome:
        runs = self.jobs(ctx)
        job = {
            "modules": [[str(ctx.submission / f), m] for f, m in ctx.manifest.modules()],
            "reference": self.parser_module or ctx.manifest.reference,
            # The lab's own parser is only refused where the student was to write it.
            "check_reference": (self.parser_module or ctx.manifest.reference) in ctx.manifest.replaces.values(),
            "banned": ctx.manifest.banned(),
            "cases": [
                {"id": f"{c.id}/{feed}", "data": c.data.decode("latin-1"), "chunks": chunks, "eof": c.eof, "limits": c.limits}
                for c, feed, chunks in runs
            ],
        }
        env = {"PYTHONPATH": str(ctx.lab_root)} if ctx.lab_root else {}
        box = Sandbox(["python", "-s", str(HARNESS)], workdir=ctx.submission, limits=ctx.limits, env=env)
        box.start(json.dumps(job).encode())
        result = box.wait(ctx.limits.wall_seconds)
        lines = [json.loads(x) for x in result.channel.decode("utf-8", "replace").splitlines() if x.startswith("{")]
        stdout = neutralize(result.stdout, total=result.stdout_total)
        stderr = neutralize(result.stderr, total=result.stderr_total)
        outcome = CheckOutcome(status="failed", stdout=stdout, stderr=stderr)

        banned = [x["banned"] for x in lines if "banned" in x]
        if banned:
            outcome.status = "banned_import"
            outcome.message = f"your code imported {banned[0]}, which this exercise does not allow"
            return outcome
        load_errors = [x["load_error"] for x in lines if "load_error" in x]
        if result.status in ("timeout", "cpu_limit", "memory_limit", "process_limit", "grader_error"):
            outcome.status = result.status
            done = {x["id"] for x in lines if "id" in x}
            stuck = next((f"{c.id}/{f}" for c, f, _ in runs if f"{c.id}/{f}" not in done), None)
            outcome.message = result.message + (f" (while running case {stuck})" if stuck and result.status != "grader_error" else "")
            return outcome
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
            case_ok = True
            for c, feed, chunks in runs:
                if c is not case:
                    continue
                got = by_id.get(f"{c.id}/{feed}")
                res = self.judge(ctx, case, feed, chunks, got, result)
                if got and "exception" in got and got["exception"]["type"] == "MemoryError":
                    outcome.status = "memory_limit"
                    outcome.message = f"ran out of memory in case {case.id}"
                    outcome.cases.append(res)
                    return outcome
                if not res.passed:
                    case_ok = False
                    outcome.cases.append(res)
                    break  # one failing feed per case is enough to read
            if case_ok:
                passed += 1
                outcome.cases.append(CaseResult(case.id, True, feedback.escape(case.data), "", "", case.rule))
        if result.status == "crashed" and passed < len(self.cases):
            outcome.status = "crashed"
            outcome.message = result.message
            return outcome
        outcome.fraction = passed / len(self.cases)
        if passed == len(self.cases):
            outcome.status, outcome.fraction = "passed", 1.0
        else:
            outcome.message = f"{passed} of {len(self.cases)} cases passed"
        return outcome

    def judge(self, ctx: Context, case: Case, feed: str, chunks: list[int], got: dict | None, result) -> CaseResult:
        expected_text = "  or  ".join(render_outcome(o) for o in case.outcomes)
        res = CaseResult(
            id=case.id,
            passed=False,
            sent=feedback.escape(case.data),
            received="",
            expected=expected_text,
            rule=case.rule,
            feed=FEEDS[feed] + ("" if feed != "random" else f" {chunks}") + (", then EOF" if case.eof else ""),
        )
        res.reproduce = feedback.feed_reproduction(case.data, str(ctx.origin or ctx.submission), ctx.manifest.id, FEEDS[feed])
        if got is None:
            res.received = f"(no answer: {result.message or 'the harness stopped'})"
            return res
        if "exception" in got:
            exc = got["exception"]
            where = f" at {exc['where'][-1]}" if exc.get("where") else ""
            res.received = neutralize(f"raised {exc['type']}: {exc['message']}{where}").replace("\n", "\\n")
            res.hint = feedback.hint_for("not_implemented" if exc["type"] == "NotImplementedError" else "")
            return res
        if "error" in got:
            status = got["error"]["status"]
            res.received = f"raise HTTPError(status={status})  # " + neutralize(got["error"]["message"]).replace("\n", "\\n")
            if status in case.outcomes:
                res.passed = True
                return res
            if any(isinstance(o, int) for o in case.outcomes):
                res.hint = feedback.hint_for("wrong_status")
            else:
                res.hint = feedback.hint_for("rejected_good_input")
            self._caret_at_input(res, case)
            return res
        events = _join_data([_from_harness(e) for e in got["events"]])
        res.received = render_outcome(events)
        if events in case.outcomes:
            res.passed = True
            return res
        if all(isinstance(o, int) for o in case.outcomes):
            res.hint = feedback.hint_for("accepted_bad_input")
            self._caret_at_input(res, case)
            return res
        if not events or events[-1][0] not in ("EndOfMessage", "ConnectionClosed"):
            res.hint = feedback.hint_for("incomplete")
        if feed != "whole":
            res.hint = (res.hint + " " if res.hint else "") + feedback.hint_for("byte_at_a_time")
        target = next(o for o in case.outcomes if not isinstance(o, int))
        res.caret_in, res.caret = "received", feedback.first_difference(render_outcome(target), res.received)
        return res

    @staticmethod
    def _caret_at_input(res: CaseResult, case: Case) -> None:
        if case.at is not None and case.at in case.data:
            res.caret_in = "sent"
            res.caret = feedback.escaped_offset(case.data, case.data.index(case.at))
