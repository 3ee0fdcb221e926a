"""Check bodies for exercise 09-sse (``text/event-stream``: WHATWG HTML §9.2).

Encoder checks call the student's ``encode_event`` / ``encode_comment`` /
``encode_retry`` in the sandbox and judge the bytes here with the lab's own
``protocols.sse.EventStreamParser``, which follows the spec's parsing algorithm line by
line (FACTS.md: common client libraries get four of its rules wrong, so none of them is
the referee). Parser checks feed the student's ``EventStreamParser`` whole, one byte at
a time and split at seeded points, and compare with events written out from the spec.
"""
from __future__ import annotations

from protocols.sse import Comment, EventStreamParser

from .. import feedback
from .programs import Call, ProgramCheck, Verdict, raised
from .parser import split_points

__all__ = ["CHECKS", "PROGRAM"]

# Runs in the sandbox, next to the student's sse.py (module `m`).
PROGRAM = r'''
def _ev(e):
    if type(e).__name__ == "Comment":
        return ["Comment", e.text]
    return ["Event", e.type, e.data, e.last_event_id, e.retry]

def run(m, a):
    kind = a["kind"]
    if kind == "event":
        return B(m.encode_event(a.get("data"), **a.get("kw", {})))
    if kind == "comment":
        return B(m.encode_comment(a["text"]))
    if kind == "retry":
        return B(m.encode_retry(a["ms"]))
    data = a["data"].encode("latin-1")
    p = m.EventStreamParser(comments=a.get("comments", False))
    out, pos = [], 0
    for size in a["chunks"]:
        out += [_ev(e) for e in p.receive_data(data[pos:pos + size])]
        pos += size
    if a.get("eof"):
        out += [_ev(e) for e in p.receive_data(b"")]
    return {"events": out, "last_event_id": p.last_event_id, "retry": p.retry}
'''

SPEC = "WHATWG HTML §9.2.5-9.2.6 (Server-sent events: parsing and interpreting an event stream)"
R_BLANK = "§9.2.6: \"If the line is empty (a blank line): Dispatch the event\": every event ends with a blank line"
R_DATA_LINES = ("§9.2.5: end-of-line = ( cr lf / cr / lf ); a payload's CR, LF and CRLF each end a `data:` line, "
                "and the parser joins data lines with LF")
R_FIELDS = "§9.2.6: `event:` sets the type, `id:` the last event ID (it persists), `retry:` the reconnection time"
R_SPACE = "§9.2.6: \"If value starts with a U+0020 SPACE character, remove it from value\": only one space"
R_BAD_FIELD = ("A field value cannot hold CR or LF (they end the line: `id: 1\\ndata: forged` injects a field), "
               "and a parser ignores an id with NUL: the encoder refuses them with ValueError")
R_RETRY = "§9.2.6: retry's value must be ASCII digits only: a non-negative integer of milliseconds"
R_COMMENT = "§9.2.6: a line starting with `:` is a comment, ignored by clients: a heartbeat that dispatches nothing"
R_PARSE = SPEC


def E(data: str, type: str = "message", id: str = "", retry: int | None = None) -> tuple:
    return ("Event", type, data, id, retry)


def C(text: str) -> tuple:
    return ("Comment", text)


def render(events) -> str:
    def one(e):
        if e[0] == "Comment":
            return f"Comment({e[1]!r})"
        extra = (f", id={e[3]!r}" if e[3] else "") + (f", retry={e[4]}" if e[4] is not None else "")
        return f"Event(type={e[1]!r}, data={e[2]!r}{extra})"
    return "[" + ", ".join(one(e) for e in events) + "]" if events else "(no events)"


def referee(stream: bytes) -> tuple[list[tuple], EventStreamParser]:
    """The lab's spec-exact parser, with comments, on the student's bytes."""
    parser = EventStreamParser(comments=True)
    out = []
    for ev in parser.receive_data(stream):
        out.append(C(ev.text) if isinstance(ev, Comment) else E(ev.data, ev.type, ev.last_event_id, ev.retry))
    return out, parser


def _bytes(got: dict) -> bytes:
    value = got["value"]
    if not isinstance(value, str):
        raise TypeError(f"expected bytes, got {type(value).__name__}")
    return value.encode("latin-1")


def encodes(id: str, call: str, args: dict, want: list[tuple], rule: str, *, last_event_id: str | None = None,
            retry: int | None = None, hint: str = "") -> Call:
    """The student's encoder output must parse (spec-exactly) into ``want``, nothing
    left over; optionally the parser's last event ID / retry afterwards."""

    def judge(got: dict) -> Verdict:
        if "exception" in got:
            return Verdict(False, render(want), raised(got), "This input is valid: encode it.")
        out = _bytes(got)
        events, parser = referee(out)
        problems = []
        if events != want:
            problems.append("events")
        if last_event_id is not None and parser.last_event_id != last_event_id:
            problems.append(f"last event ID {parser.last_event_id!r}, expected {last_event_id!r}")
        if retry is not None and parser.retry != retry:
            problems.append(f"retry {parser.retry!r}, expected {retry}")
        leftover = bytes(parser._buf)
        if leftover:
            problems.append(f"{len(leftover)} byte(s) after the last line end")
        ok = not problems
        why = hint
        if not ok and not why:
            if events == [] and want and not out.endswith((b"\n\n", b"\r\r", b"\r\n\r\n")):
                why = "An event is dispatched by a blank line: end the block with one more \\n."
            elif leftover:
                why = "Every line ends with \\n (or \\r\\n): the last one too."
        return Verdict(ok, render(want), f"{feedback.escape(out)}  parses as {render(events)}"
                       + ("" if ok or problems == ["events"] else f" ({'; '.join(p for p in problems if p != 'events')})"),
                       why)

    shown = {k: v for k, v in args.items() if k not in ("kind", "kw")} | args.get("kw", {})
    sent = f"{call}(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"
    return Call(id, args, judge, rule, sent=sent)


def refuses(id: str, kw: dict, rule: str) -> Call:
    def judge(got: dict) -> Verdict:
        exc = got.get("exception")
        if exc and exc["type"] == "ValueError":
            return Verdict(True, "raise ValueError", raised(got))
        if exc:
            return Verdict(False, "raise ValueError", raised(got), "Refuse with ValueError, not another exception.")
        out = _bytes(got)
        events, _ = referee(out)
        return Verdict(False, "raise ValueError", f"returned {feedback.escape(out)}  parses as {render(events)}",
                       "Check the value before writing it: this one would break the stream's framing.")

    kind = "retry" if "ms" in kw else "event"
    args = {"kind": kind, **({"ms": kw["ms"]} if kind == "retry" else {"data": "x", "kw": kw})}
    sent = f"encode_retry({kw['ms']!r})" if kind == "retry" else "encode_event('x'" + "".join(
        f", {k}={v!r}" for k, v in kw.items()) + ")"
    return Call(id, args, judge, rule, sent=sent)


FEEDS = ("whole", "bytewise", "random")


def parses(id: str, data: bytes, want: list[tuple], rule: str = R_PARSE, *, eof: bool = False,
           comments: bool = False, last_event_id: str | None = None, retry: int | None = None) -> list[Call]:
    """The student's parser, fed ``data`` three ways, must give ``want``."""
    calls = []
    for feed in FEEDS:
        def args(rng, feed=feed):
            n = len(data)
            chunks = {"whole": [n], "bytewise": [1] * n}.get(feed) or split_points(rng, n)
            return {"kind": "parse", "data": data.decode("latin-1"), "chunks": chunks, "eof": eof,
                    "comments": comments}

        def judge(got: dict, feed=feed) -> Verdict:
            if "exception" in got:
                return Verdict(False, render(want), raised(got))
            value = got["value"]
            events = [tuple(e) for e in value["events"]]
            problems = []
            if last_event_id is not None and value.get("last_event_id") != last_event_id:
                problems.append(f"last_event_id {value.get('last_event_id')!r}, expected {last_event_id!r}")
            if retry is not None and value.get("retry") != retry:
                problems.append(f"retry {value.get('retry')!r}, expected {retry!r}")
            ok = events == want and not problems
            hint = "" if ok or feed == "whole" else feedback.hint_for("byte_at_a_time")
            return Verdict(ok, render(want), render(events) + (f" ({'; '.join(problems)})" if problems else ""), hint,
                           caret_in="received" if events != want else "")

        how = {"whole": "whole", "bytewise": "one byte at a time", "random": "split at seeded points"}[feed]
        calls.append(Call(f"{id}/{feed}", args, judge, rule,
                          sent=feedback.escape(data) + f"  (fed {how}{', then EOF' if eof else ''})"))
    return calls


CHECKS = {
    # --- stage 1: the encoder ---
    "encode-events": ProgramCheck(PROGRAM, [
        encodes("simple", "encode_event", {"kind": "event", "data": "hello"}, [E("hello")], R_BLANK),
        encodes("empty-data", "encode_event", {"kind": "event", "data": ""}, [E("")], R_BLANK),
        encodes("leading-space", "encode_event", {"kind": "event", "data": " two spaces "}, [E(" two spaces ")],
                R_SPACE, hint="The parser removes one space after the colon: write `data: ` + value."),
        encodes("colon-and-unicode", "encode_event", {"kind": "event", "data": "a: ü ✓"}, [E("a: ü ✓")], R_BLANK),
    ]),
    "encode-multiline-data": ProgramCheck(PROGRAM, [
        encodes("lf", "encode_event", {"kind": "event", "data": "a\nb"}, [E("a\nb")], R_DATA_LINES),
        encodes("crlf", "encode_event", {"kind": "event", "data": "a\r\nb"}, [E("a\nb")], R_DATA_LINES),
        encodes("cr", "encode_event", {"kind": "event", "data": "a\rb"}, [E("a\nb")], R_DATA_LINES,
                hint="CR alone is a line end too: split data at \\r\\n, \\r and \\n."),
        encodes("trailing-lf", "encode_event", {"kind": "event", "data": "line\n"}, [E("line\n")], R_DATA_LINES),
        encodes("blank-lines-inside", "encode_event", {"kind": "event", "data": "x\r\n\r\ny"}, [E("x\n\ny")],
                R_DATA_LINES, hint="An empty line inside data must not end the event: write `data:` for it."),
    ]),
    "encode-fields": ProgramCheck(PROGRAM, [
        encodes("event-type", "encode_event", {"kind": "event", "data": "d", "kw": {"event": "update"}},
                [E("d", "update")], R_FIELDS),
        encodes("id", "encode_event", {"kind": "event", "data": "d", "kw": {"id": "42"}}, [E("d", id="42")],
                R_FIELDS),
        encodes("retry", "encode_event", {"kind": "event", "data": "d", "kw": {"retry": 1500}},
                [E("d", retry=1500)], R_FIELDS),
        encodes("id-only", "encode_event", {"kind": "event", "data": None, "kw": {"id": "7"}}, [], R_FIELDS,
                last_event_id="7", hint="data=None writes no data line: only the id (and the blank line)."),
        encodes("all-fields", "encode_event",
                {"kind": "event", "data": "x\ny", "kw": {"event": "e", "id": "9", "retry": 10}},
                [E("x\ny", "e", "9", 10)], R_FIELDS),
    ]),
    "encode-refuses-bad-fields": ProgramCheck(PROGRAM, [
        refuses("id-with-lf", {"id": "1\ndata: forged"}, R_BAD_FIELD),
        refuses("id-with-cr", {"id": "1\r2"}, R_BAD_FIELD),
        refuses("id-with-nul", {"id": "a\0b"}, R_BAD_FIELD),
        refuses("event-with-lf", {"event": "x\ny"}, R_BAD_FIELD),
        refuses("retry-negative", {"ms": -1}, R_RETRY),
        refuses("retry-bool", {"ms": True}, R_RETRY),
    ]),
    # --- stage 2: the parser ---
    "parse-events": ProgramCheck(PROGRAM, [
        *parses("one", b"data: hello\n\n", [E("hello")]),
        *parses("two", b"data: one\n\ndata: two\n\n", [E("one"), E("two")]),
        *parses("typed", b"event: add\ndata: 1\n\n", [E("1", "add")]),
        *parses("two-data-lines", b"data: a\ndata: b\n\n", [E("a\nb")]),
        *parses("type-resets", b"event: x\ndata: 1\n\ndata: 2\n\n", [E("1", "x"), E("2")]),
    ]),
    "parse-line-ends": ProgramCheck(PROGRAM, [
        *parses("crlf", b"data: a\r\n\r\n", [E("a")], R_DATA_LINES),
        *parses("cr", b"data: a\r\rdata: b\r\r", [E("a"), E("b")], R_DATA_LINES),
        *parses("mixed", b"data: a\r\ndata: b\n\r\n", [E("a\nb")], R_DATA_LINES),
        *parses("crlf-then-cr", b"data: a\r\n\rdata: b\n\n", [E("a"), E("b")], R_DATA_LINES),
    ]),
    "parse-fields": ProgramCheck(PROGRAM, [
        *parses("no-space", b"data:x\n\n", [E("x")], R_SPACE),
        *parses("two-spaces", b"data:  x\n\n", [E(" x")], R_SPACE),
        *parses("no-colon", b"data\n\n", [E("")], R_PARSE),
        *parses("unknown-field-and-comment", b"foo: bar\n: note\ndata: x\n\n", [E("x")], R_COMMENT),
        *parses("id-persists", b"id: 1\ndata: x\n\ndata: y\n\n", [E("x", id="1"), E("y", id="1")], R_FIELDS),
        *parses("id-with-nul-ignored", b"id: 3\n\nid: a\x00b\ndata: x\n\n", [E("x", id="3")],
                "§9.2.6: \"If the field value does not contain U+0000 NULL, then set the last event ID buffer\""),
        *parses("retry", b"retry: 12x\ndata: x\n\nretry: 3000\ndata: y\n\n", [E("x"), E("y", retry=3000)], R_RETRY),
        *parses("id-only-block", b"id: 5\n\ndata: z\n\n", [E("z", id="5")], R_FIELDS),
    ]),
    "parse-bytes-and-bom": ProgramCheck(PROGRAM, [
        *parses("bom", b"\xef\xbb\xbfdata: x\n\n", [E("x")], "§9.2.5: the UTF-8 decode strips one leading BOM"),
        *parses("second-bom-kept", b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n", [E("y")],
                "§9.2.5: only one BOM is stripped: a second makes the first field name `\\ufeffdata`"),
        *parses("utf8-split", "data: ✓ ü\n\n".encode(), [E("✓ ü")], "§9.2.5: streams are UTF-8"),
        *parses("bad-utf8", b"data: \xff!\n\n", [E("\ufffd!")], "§9.2.5: decode with U+FFFD for invalid bytes"),
    ]),
}

# Stage "in the lab": the lab's SSE endpoint writing with the student's encoder.
from .sse_endpoint import ENDPOINT_CHECKS  # noqa: E402 - after CHECKS, which it extends

CHECKS.update(ENDPOINT_CHECKS)
