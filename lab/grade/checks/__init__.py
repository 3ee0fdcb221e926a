"""Checks: what a check is given and what it hands back.

A check body (``Check.run``) gets a ``Context`` - the submission's run copy, the
manifest, its ``CheckSpec``, an RNG seeded from the run's one seed and the check's
name, and the sandbox limits - and returns a ``CheckOutcome``: a status, the fraction
of its points earned, and the cases it ran, each with the bytes sent and what came
back. Scoring, feedback and exporters only ever read outcomes.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..manifest import CheckSpec, Manifest
from ..sandbox import SandboxLimits

__all__ = ["STATUSES", "CaseResult", "CheckOutcome", "Context", "Check"]

# Every status a check can end with. Only `passed` earns full points; `failed` may earn
# partial credit; all the others earn nothing for that check.
STATUSES = (
    "passed",
    "failed",
    "timeout",
    "memory_limit",
    "cpu_limit",
    "process_limit",
    "crashed",
    "banned_import",
    "not_run",
    "grader_error",
)


@dataclass
class CaseResult:
    """One exchange with the submission. ``sent``/``received``/``expected`` are the
    escaped text forms (``\\r\\n`` visible); ``caret`` is a column in ``sent`` (when the
    rule is about an input byte) or in ``received`` (the first wrong byte)."""

    id: str
    passed: bool
    sent: str
    received: str
    expected: str
    rule: str = ""
    feed: str = ""
    caret_in: str = ""  # "sent" | "received" | ""
    caret: int | None = None
    hint: str = ""
    reproduce: str = ""
    origin: Path | None = None  # the submission folder as the student knows it

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class CheckOutcome:
    status: str
    fraction: float = 0.0
    message: str = ""
    cases: list[CaseResult] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""


@dataclass
class Context:
    submission: Path
    manifest: Manifest
    spec: CheckSpec
    rng: random.Random
    seed: int
    limits: SandboxLimits
    lab_root: Path | None = None
    reproduce: str = ""
    origin: Path | None = None  # the submission folder as the student knows it
    pcap_dir: Path | None = None  # --pcap DIR: keep each socket check's traffic there
    notes: list = field(default_factory=list)  # said once per run, in the results

    def capture(self, port: int, netns_pid: int | None):
        """A started ``pcap.CheckCapture`` for this check's server, or None (no --pcap,
        or a hidden check: its traffic would show its inputs)."""
        if self.pcap_dir is None or self.spec.hidden:
            return None
        from ..pcap import CheckCapture

        cap = CheckCapture(self.pcap_dir, self.spec.name, port, netns_pid, self.notes)
        cap.start()
        return cap


class Check:
    """Base class: a named check body. Subclasses implement ``run``."""

    rule: str = ""

    def run(self, ctx: Context) -> CheckOutcome:  # pragma: no cover - abstract
        raise NotImplementedError
