"""Harness for program checks (``checks/programs.py``): runs *inside* the sandbox, next to the student's code.

Where ``parser_harness`` drives one class the same way for every case, this harness runs
a small program the grader wrote (``program``: Python source defining
``run(module, args)``) once per case, against the student's module, and reports what it
returned (anything JSON can carry) or what it raised. It reads one JSON job on stdin::

    {"modules": [["/run/dir/sse.py", "protocols.sse"]], "module": "protocols.sse",
     "banned": ["sseclient", ...], "program": "def run(m, args): ...",
     "cases": [{"id": "...", "args": {...}}]}

and writes one JSON line per case to fd 3 (the grader's channel): ``{"id", "value"}``
or ``{"id", "exception": {"type", "message", "where"}}``. The student's prints go to
stdout/stderr, which the grader shows capped. A case that hangs never gets its line:
the grader names it. Bytes cross as latin-1 text (``B(x)`` in the program).
"""
from __future__ import annotations

import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parser_harness import _Blocker, _load  # noqa: E402 - the same loader and import blocker


def B(data: bytes) -> str:
    """Bytes as JSON-able text (latin-1: one char per byte)."""
    return bytes(data).decode("latin-1")


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    channel = os.fdopen(int(os.environ.get("LAB_GRADE_CHANNEL_FD", "3")), "w", buffering=1)

    def report(obj: dict) -> None:
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    import importlib

    for _, name in job["modules"]:
        importlib.import_module(name)  # the lab's, so its package is complete first
    sys.meta_path.insert(0, _Blocker(job.get("banned", []), report))
    for path, name in job["modules"]:
        _load(path, name, report)
    module = sys.modules[job["module"]]
    report({"loaded": True})
    namespace = {"B": B, "__name__": "lab_grade_program"}
    exec(compile(job["program"], "<grader program>", "exec"), namespace)  # the grader's own code
    run = namespace["run"]
    for case in job["cases"]:
        out = {"id": case["id"]}
        try:
            out["value"] = run(module, case["args"])
        except MemoryError:
            out["exception"] = {"type": "MemoryError", "message": "out of memory"}
        except Exception as exc:  # noqa: BLE001 - the student's error is the result
            tb = traceback.extract_tb(exc.__traceback__)
            where = [f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in tb[1:]][-3:]
            out["exception"] = {"type": type(exc).__name__, "message": str(exc)[:300], "where": where}
        report(out)
    report({"done": True})


if __name__ == "__main__":
    main()
