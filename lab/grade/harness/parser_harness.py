"""Harness for parser exercises: runs *inside* the sandbox, next to the student's code.

The grader never imports student code; this script does, in a confined subprocess. It
reads one JSON job on stdin::

    {"modules": [["/run/dir/head.py", "protocols.http1.head"],
                 ["/run/dir/parser.py", "protocols.http1.parser"]],
     "reference": "protocols.http1.parser", "banned": ["h11", ...],
     "cases": [{"id": "...", "data": "<latin-1 text>", "chunks": [3, 1, ...],
                "eof": false, "limits": {"max_headers": 4}}]}

loads each student file *in place of* the lab module it replaces (registered under the
same name, in order, so the student's parser.py importing ``.head`` gets the student's
head.py, and relative imports such as ``from .events import Request`` work exactly as in
the reference), then for
each case builds a parser, feeds the bytes in the given chunk sizes, drains events
after every chunk until ``NEED_DATA`` and writes one JSON line per case to fd 3 (the
grader's private channel; the student's prints go to stdout/stderr, which the grader
shows capped). A hanging case simply never gets its line: the grader names it.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
import traceback

# A case that yields this many events without NEED_DATA is looping.
MAX_EVENTS = 10_000


class _Blocker(importlib.abc.MetaPathFinder):
    """Refuse banned modules at run time too (the AST scan misses ``__import__(x)``)."""

    def __init__(self, banned: list[str], report) -> None:
        self.banned = banned
        self.report = report

    def find_spec(self, fullname, path, target=None):
        for name in self.banned:
            if fullname == name or fullname.startswith(name + "."):
                self.report({"banned": fullname})
                raise ImportError(f"import of {fullname!r} is not allowed in this exercise")
        return None


def _text(b: bytes) -> str:
    return bytes(b).decode("latin-1")


def _event(ev) -> dict:
    name = type(ev).__name__
    if name == "Request":
        return {
            "type": "Request",
            "method": _text(ev.method),
            "target": _text(ev.target),
            "version": _text(ev.version),
            "headers": [[_text(n), _text(v)] for n, v in ev.headers],
        }
    if name == "Data":
        return {"type": "Data", "data": _text(ev.data)}
    if name == "EndOfMessage":
        return {"type": "EndOfMessage", "trailers": [[_text(n), _text(v)] for n, v in (ev.trailers or [])]}
    if name == "ConnectionClosed":
        return {"type": "ConnectionClosed"}
    return {"type": "Unknown", "repr": repr(ev)[:200]}


def run_case(module, case: dict) -> dict:
    from protocols.http1 import NEED_DATA

    limits_cls = getattr(module, "Limits", None)
    if limits_cls is None:
        from protocols.http1 import Limits as limits_cls
    data = case["data"].encode("latin-1")
    events: list[dict] = []
    out = {"id": case["id"], "events": events}
    try:
        parser = module.RequestParser(limits=limits_cls(**case.get("limits", {})))
        chunks = []
        pos = 0
        for size in case["chunks"]:
            chunks.append(data[pos : pos + size])
            pos += size
        if pos < len(data):
            chunks.append(data[pos:])
        if case.get("eof"):
            chunks.append(b"")
        done = False
        for chunk in chunks:
            parser.receive_data(chunk)
            while True:
                ev = parser.next_event()
                if ev is NEED_DATA:
                    break
                events.append(_event(ev))
                if len(events) > MAX_EVENTS:
                    raise RuntimeError(f"{MAX_EVENTS} events without NEED_DATA: next_event() loops")
                if events[-1]["type"] in ("EndOfMessage", "ConnectionClosed"):
                    done = True
                    break
            if done:
                break
        if done:
            buffered = getattr(parser, "buffered", None)  # bytes received, not yet parsed
            if isinstance(buffered, int):
                out["buffered"] = buffered
    except MemoryError:
        out["exception"] = {"type": "MemoryError", "message": "out of memory"}
    except Exception as exc:  # noqa: BLE001 - the student's error is the result
        status = getattr(exc, "status", None)
        if isinstance(status, int) and type(exc).__name__ != "NotImplementedError":
            out["error"] = {"status": status, "message": str(getattr(exc, "message", exc))[:300]}
        else:
            tb = traceback.extract_tb(exc.__traceback__)
            where = [f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in tb[1:]][-3:]
            out["exception"] = {"type": type(exc).__name__, "message": str(exc)[:300], "where": where}
    return out


def _load(path: str, name: str, report):
    """Execute the student's file as module ``name``, replacing the lab's."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    old = sys.modules.get(name)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001
        if old is not None:
            sys.modules[name] = old
        if isinstance(exc, MemoryError):
            report({"load_error": {"type": "MemoryError", "message": "out of memory while importing"}})
        else:
            report({"load_error": {"type": type(exc).__name__, "message": str(exc)[:300],
                                   "file": os.path.basename(path),
                                   "trace": traceback.format_exc(limit=-3)[-1500:]}})
        raise
    package, _, leaf = name.rpartition(".")
    if package in sys.modules:
        pkg = sys.modules[package]
        setattr(pkg, leaf, module)
        # The package re-exports names from the module (`from .parser import
        # RequestParser`): point those at the student's objects too, so code that
        # imports them afterwards (the lab's server) uses the student's versions.
        if old is not None:
            for attr in dir(pkg):
                value = getattr(pkg, attr)
                if getattr(old, attr, None) is value and hasattr(module, attr) and attr != leaf:
                    setattr(pkg, attr, getattr(module, attr))
    if old is not None:
        _rebind(old, module)
    return module


def _rebind(old, new) -> None:
    """Lab modules imported before the swap hold names from the old module (``from
    .body import ChunkedReader`` in parser.py): point each at the student's object, so
    a replaced module is used wherever the lab uses it, not only where it is imported
    afterwards."""
    for mod_name, mod in list(sys.modules.items()):
        if mod is None or mod is new or not mod_name.startswith(("protocols", "lab")) or mod_name.startswith("lab.grade"):
            continue
        for attr, value in list(vars(mod).items()):
            if attr.startswith("__") or isinstance(value, type(sys)):
                continue
            if getattr(old, attr, _MISSING) is value and hasattr(new, attr):
                setattr(mod, attr, getattr(new, attr))


_MISSING = object()


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    channel = os.fdopen(int(os.environ.get("LAB_GRADE_CHANNEL_FD", "3")), "w", buffering=1)

    def report(obj: dict) -> None:
        channel.write(json.dumps(obj) + "\n")
        channel.flush()

    import importlib

    import protocols.http1  # noqa: F401 - the events and errors the submission uses

    reference = job["reference"]
    real_class = getattr(importlib.import_module(reference), "RequestParser", None)
    sys.meta_path.insert(0, _Blocker(job.get("banned", []), report))
    module = None
    for path, name in job["modules"]:
        module = _load(path, name, report)
    module = sys.modules[reference]
    cls = getattr(module, "RequestParser", None)
    if cls is None:
        report({"load_error": {"type": "AttributeError", "message": "no RequestParser in your module"}})
        return
    if job.get("check_reference", True) and any(klass is real_class for klass in getattr(cls, "__mro__", ())):
        report({"banned": f"{reference}.RequestParser (the lab's own reference parser)"})
        return
    report({"loaded": True})
    for case in job["cases"]:
        report(run_case(module, case))
    report({"done": True})


if __name__ == "__main__":
    main()
