"""Harness for function checks: runs *inside* the sandbox, next to the student's code.

Reads one JSON job on stdin::

    {"modules": [["/run/dir/writer.py", "protocols.http1.writer"]],
     "banned": ["h11", ...],
     "cases": [{"id": "ok-200", "expr": "writer.format_response(200, [], b'hi')"}]}

loads each student file in place of the lab module it replaces (the parser harness's
loader: names the lab imported earlier are rebound to the student's objects), then
evaluates each case's expression with every replaced module bound to its leaf name
(``writer``, ``body``, ...) plus ``Limits`` and ``HTTPError``, and writes one JSON line
per case to fd 3: ``{"id", "repr"}`` (``repr`` of the value, which the grader reads back
with ``ast.literal_eval``) or ``{"id", "error": {"type", "message", "status"}}``.
The expressions are the grader's, never the student's.
"""
from __future__ import annotations

import json
import os
import sys
import traceback


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    channel = os.fdopen(int(os.environ.get("LAB_GRADE_CHANNEL_FD", "3")), "w", buffering=1)

    def report(obj: dict) -> None:
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from parser_harness import _Blocker, _load  # noqa: E402 - next to this file

    import protocols.http1  # noqa: F401 - the package complete before the swap
    from protocols.errors import HTTPError
    from protocols.http1 import Limits

    for _, name in job["modules"]:
        __import__(name)
    sys.meta_path.insert(0, _Blocker(job.get("banned", []), report))
    namespace: dict = {"Limits": Limits, "HTTPError": HTTPError}
    for path, name in job["modules"]:
        try:
            namespace[name.rpartition(".")[2]] = _load(path, name, report)
        except BaseException:  # noqa: BLE001 - _load reported it
            return
    namespace.update(job.get("extra", {}))
    for helper in job.get("helpers", []):
        exec(helper, namespace)  # the grader's helper functions (feed, drain, ...)
    report({"loaded": True})
    for case in job["cases"]:
        out: dict = {"id": case["id"]}
        try:
            out["repr"] = repr(eval(case["expr"], namespace))  # noqa: S307 - the grader's own expression
        except MemoryError:
            out["error"] = {"type": "MemoryError", "message": "out of memory", "status": None}
        except Exception as exc:  # noqa: BLE001 - the student's error is the result
            status = getattr(exc, "status", None)
            tb = traceback.extract_tb(exc.__traceback__)
            where = [f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in tb[1:]][-3:]
            out["error"] = {"type": type(exc).__name__, "message": str(exc)[:300],
                            "status": status if isinstance(status, int) else None, "where": where}
        report(out)
    report({"done": True})


if __name__ == "__main__":
    main()
