"""The one scoring function. Every total anywhere (text, JSON, Gradescope, JUnit,
GitHub Classroom, the CSV gradebook) is computed here, so they cannot disagree.

A check earns its full points only when ``passed``; a ``failed`` check marked
``partial`` in the manifest earns points in proportion to the cases it passed; every
other status (timeout, limits, crash, banned import, not run, grader error) earns 0.
Points are rounded to 1/100 per check, so sums of rounded parts equal the total.
"""
from __future__ import annotations

__all__ = ["check_score", "total", "max_total", "percent"]


def check_score(status: str, fraction: float, points: float, partial: bool) -> float:
    if status == "passed":
        return round(points, 2)
    if status == "failed" and partial:
        return round(points * max(0.0, min(1.0, fraction)), 2)
    return 0.0


def total(checks: list[dict]) -> float:
    return round(sum(c["score"] for c in checks), 2)


def max_total(checks: list[dict]) -> float:
    return round(sum(c["max_score"] for c in checks), 2)


def percent(checks: list[dict]) -> float:
    m = max_total(checks)
    return round(100.0 * total(checks) / m, 1) if m else 0.0
