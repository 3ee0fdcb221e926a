"""Feed bytes to your own parser and print what it says: the reproduction line of a
failing parser check. Runs your code directly (it is yours), in place of the lab's
modules, exactly as the grader's harness loads it.

    python -m lab.grade.feed --submission . 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'
    python -m lab.grade.feed --submission . --bytewise 'GET / HTTP/1.1\\r\\n...'
"""
from __future__ import annotations

import argparse
import codecs
import sys
from pathlib import Path

from .checks.parser import _from_harness, render_event
from .harness.parser_harness import _load, run_case
from .manifest import find_exercise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.grade.feed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--exercise", default="01-request-parsing", help="exercise id (default: %(default)s)")
    ap.add_argument("--submission", type=Path, default=Path("."), help="your folder (default: .)")
    ap.add_argument("--bytewise", action="store_true", help="feed one byte at a time")
    ap.add_argument("--eof", action="store_true", help="feed b'' (EOF) after the bytes")
    ap.add_argument("data", help="the bytes, with escapes: \\r \\n \\t \\xNN")
    args = ap.parse_args(argv)
    manifest = find_exercise(args.exercise)
    raw = codecs.escape_decode(args.data.encode("utf-8"))[0]
    import protocols.http1  # noqa: F401

    for file, module in manifest.modules():
        _load(str(args.submission / file), module, lambda obj: print(obj, file=sys.stderr))
    case = {"id": "feed", "data": raw.decode("latin-1"), "chunks": [1] * len(raw) if args.bytewise else [len(raw)],
            "eof": args.eof}
    out = run_case(sys.modules[manifest.reference], case)
    for ev in out["events"]:
        print(render_event(_from_harness(ev)))
    if "error" in out:
        print(f"raise HTTPError(status={out['error']['status']})  # {out['error']['message']}")
    if "exception" in out:
        exc = out["exception"]
        print(f"raised {exc['type']}: {exc['message']} {' <- '.join(reversed(exc.get('where', [])))}")
        return 1
    if not out["events"] and "error" not in out:
        print("NEED_DATA")
    return 0


if __name__ == "__main__":
    sys.exit(main())
