"""Student-facing feedback: escaped bytes, a caret under the first wrong byte, the rule
it broke, a hint for the error class, and a one-line reproduction.

Everything a student reads passes through ``escape`` or ``sandbox.neutralize``: bytes
from the wire or from student output can never move the cursor, recolour the terminal
or hide a line. Hidden checks never reach ``render_case``: ``render_check`` prints only
their name, category, status and points.
"""
from __future__ import annotations

import shlex

__all__ = ["escape", "escaped_offset", "first_difference", "caret_line", "hint_for", "HINTS", "nc_reproduction"]

_NAMED = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\", 0x00: "\\0"}

# One short hint per common error class (see ``hint_for``).
HINTS = {
    "connection_refused": "Nothing accepted the connection: is the server listening on the port it printed, "
    "on 127.0.0.1, before it prints its `listening on` line?",
    "connection_reset": "The server reset the connection (RST): it closed the socket with unread bytes, "
    "or crashed mid-request. Read the whole request before replying and closing.",
    "eof_empty": "The server closed the connection without sending a byte: it probably raised while handling "
    "the request. Look at its stderr below.",
    "eof_partial": "The server closed the connection before the response was complete.",
    "timeout_empty": "No byte came back before the timeout: the server may be waiting for bytes that will "
    "never come (e.g. reading until EOF, or expecting \\n instead of \\r\\n).",
    "timeout_partial": "Some bytes came back, then nothing: a response that is not complete (Content-Length "
    "larger than the body, or a missing blank line) leaves the client waiting.",
    "wrong_content_length": "Content-Length must be the exact number of body bytes (bytes, not characters).",
    "missing_final_chunk": "A chunked body ends with the last chunk `0\\r\\n` and an empty line `\\r\\n`.",
    "address_in_use": "The port is taken: bind to the port you are given (or 0), and set SO_REUSEADDR.",
    "extra_bytes": "Bytes came after the end of the response: the next response on this connection would be corrupt.",
    "not_implemented": "A method still raises NotImplementedError: this is the starter's stub to replace.",
    "wrong_status": "The input was rejected, but with the wrong status: each rule has its own code.",
    "accepted_bad_input": "This input breaks a MUST of the RFC and has to be rejected with an HTTPError.",
    "rejected_good_input": "This request is valid and has to be parsed, not rejected.",
    "incomplete": "The parser asked for more data (NEED_DATA) although the whole message was fed.",
    "byte_at_a_time": "Whole input works but split input does not: keep partial lines in your buffer and "
    "look for the terminator again when more bytes arrive.",
}


def escape(data: bytes) -> str:
    """Bytes as one printable line: ``\\r\\n`` visible, non-printables as ``\\xNN``."""
    return "".join(_escape_byte(b) for b in data)


def _escape_byte(b: int) -> str:
    if b in _NAMED:
        return _NAMED[b]
    if 0x20 <= b < 0x7F:
        return chr(b)
    return f"\\x{b:02x}"


def escaped_offset(data: bytes, index: int) -> int:
    """Column of byte ``index`` of ``data`` in ``escape(data)``."""
    return sum(len(_escape_byte(b)) for b in data[:index])


def first_difference(expected: str, got: str) -> int | None:
    """Index of the first character where ``got`` departs from ``expected``."""
    for i, (a, b) in enumerate(zip(expected, got)):
        if a != b:
            return i
    if len(expected) == len(got):
        return None
    return min(len(expected), len(got))


def caret_line(prefix_width: int, column: int) -> str:
    return " " * (prefix_width + column) + "^"


def hint_for(error_class: str) -> str:
    return HINTS.get(error_class, "")


def nc_reproduction(data: bytes, port: int | str = "PORT") -> str:
    """``printf '...' | nc 127.0.0.1 PORT``: printf's own escapes, shell-quoted."""
    body = "".join(
        {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x25: "%%", 0x5C: "\\\\", 0x27: "'\\''"}.get(b)
        or (chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}")
        for b in data
    )
    return f"printf '{body}' | nc 127.0.0.1 {port}"


def feed_reproduction(data: bytes, submission: str, exercise: str, feed: str = "whole") -> str:
    """A one-liner that feeds the same bytes to the student's own modules, unsandboxed,
    and prints each event (``python -m lab.grade.feed``)."""
    mode = {"one byte at a time": " --bytewise"}.get(feed, "")
    return (
        f"python -m lab.grade.feed --exercise {exercise} --submission {shlex.quote(str(submission))}{mode} "
        + shlex.quote(escape(data))
    )


# --- the text report -------------------------------------------------------------

MARK = {"passed": "ok  ", "failed": "FAIL", "not_run": " -- "}
LABEL_WIDTH = 11  # "  expected: "


def _points(value: float) -> str:
    return f"{value:g}"


def check_line(check: dict) -> str:
    mark = MARK.get(check["status"], "FAIL")
    hidden = "  [hidden]" if check["hidden"] else ""
    return (
        f"  {mark} {check['number']:<5} {check['name']:<28} {_points(check['score']):>5}/{_points(check['max_score']):<4}"
        f" {check['status']}{hidden}"
    )


def _clip(line: str, width: int = 160) -> str:
    if len(line) <= width:
        return line
    return line[:width] + f" [... {len(line) - width:,} more characters on this line]"


def _window(text: str, caret: int | None, width: int = 400) -> tuple[str, int | None]:
    """At most `width` characters of a long line, around the caret if there is one, so
    a megabyte body does not flood the report and the first wrong byte stays in view."""
    if len(text) <= width:
        return text, caret
    start = 0 if caret is None else max(0, min(caret - width // 2, len(text) - width))
    shown = ("[...] " if start else "") + text[start : start + width]
    left = len(text) - start - width
    if left > 0:
        shown += f" [... {left:,} more characters]"
    return shown, None if caret is None else caret - start + (6 if start else 0)


def render_case(case: dict, indent: str = "        ") -> list[str]:
    lines = [f"{indent}case {case['id']}, fed {case['feed']}" if case.get("feed") else f"{indent}case {case['id']}"]
    label = lambda name: f"{indent}{name + ':':<{LABEL_WIDTH}} "  # noqa: E731
    width = len(indent) + LABEL_WIDTH + 1
    caret = case.get("caret")
    sent, sent_caret = _window(case["sent"], caret if case.get("caret_in") == "sent" else None)
    lines.append(label("sent") + sent)
    if sent_caret is not None:
        lines.append(caret_line(width, sent_caret))
    lines.append(label("expected") + _window(case["expected"], None)[0])
    # What came back is one line; lines after it (a frame hexdump) are already indented
    # and bounded, and are shown whole: a window over all of it would cut them away.
    received, *below = case["received"].split("\n")
    got, got_caret = _window(received, caret if case.get("caret_in") == "received" else None)
    lines.append(label("got") + got)
    if got_caret is not None:
        lines.append(caret_line(width, got_caret))
    lines.extend(_clip(line) for line in below)
    if case.get("rule"):
        lines.append(label("rule") + case["rule"])
    if case.get("hint"):
        lines.append(label("hint") + case["hint"])
    if case.get("reproduce"):
        lines.append(label("try") + case["reproduce"])
    return lines


def render_check(check: dict, verbose: bool = True) -> list[str]:
    """One check. Hidden checks: name, category, status and points, nothing else."""
    lines = [check_line(check)]
    if check["hidden"]:
        return lines
    if check["status"] in ("passed",) or not verbose:
        return lines
    if check["status"] == "banned_import":
        return lines  # the report says why once, at the top
    if check.get("message") and check["message"] != "not selected (--only)":
        lines.append(f"        {check['message']}")
    if check["status"] == "not_run":
        return lines
    failing = [c for c in check.get("cases", []) if not c["passed"]]
    stubs = [c for c in failing if c["received"].startswith("raised NotImplementedError")]
    if failing and len(stubs) == len(failing):
        failing = failing[:1]  # the same stub every time: once is enough
    for case in failing[:2]:
        lines.extend(render_case(case))
    if len(failing) > 2:
        lines.append(f"        ... and {len(failing) - 2} more failing case(s)")
    for stream in ("stdout", "stderr"):
        text = check.get(stream) or ""
        if text.strip():
            tail = text.rstrip("\n").splitlines()[-15:]
            lines.append(f"        your program's {stream} (last {len(tail)} lines):")
            lines.extend(f"        | {_clip(line)}" for line in tail)
    if check["status"] != "passed":
        lines.append(f"        replay:    {check['reproduce']}")
    return lines


def render_text(results: dict, verbose: bool = True) -> str:
    from . import scoring

    out = [
        f"lab grade: {results['exercise']} ({results['title']})",
        f"submission: {results['submission']}",
        f"seed: {results['seed']}  (replay with --seed {results['seed']})",
    ]
    if not results.get("complete"):
        out.append("NOTE: this run did not finish; checks not reached are listed as not_run")
    if results.get("error"):
        out.append(f"error: {results['error']}")
    for note in results.get("notes", []):
        out.append(f"note: {note}")
    for msg in results.get("banned", []):
        out.append(f"banned import: {msg}")
    by_stage: dict[str, list[dict]] = {}
    for check in results["checks"]:
        by_stage.setdefault(check["stage"], []).append(check)
    for i, stage in enumerate(results["stages"], 1):
        checks = by_stage.get(stage["id"], [])
        got = scoring.total(checks)
        top = scoring.max_total(checks)
        out.append("")
        out.append(f"Stage {i}: {stage['title']} ({stage['id']})  {_points(got)}/{_points(top)}  {stage['status']}")
        for check in checks:
            out.extend(render_check(check, verbose))
    out.append("")
    total, top = scoring.total(results["checks"]), scoring.max_total(results["checks"])
    out.append(f"Score: {_points(total)}/{_points(top)} ({scoring.percent(results['checks'])}%)")
    return "\n".join(out) + "\n"
