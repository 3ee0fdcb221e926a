"""Hidden checks of exercise 09-sse (encoder, parser and the lab's endpoint): never shipped
in the student kit."""
from __future__ import annotations

from protocols.sse import Comment

from ..checks.labserver import Scenario, ScenarioCheck
from ..checks.programs import ProgramCheck
from ..checks.sse import PROGRAM, R_BLANK, R_COMMENT, R_RETRY, C, E, encodes, parses
from ..checks.sse_endpoint import R_HEARTBEAT, SERVE, _describe, _open, _topic


def heartbeat_on_a_quiet_stream(s: Scenario) -> None:
    st = _open(s, _topic(s, "quiet"))
    item = st.next_item(2.0, comments=True)
    s.expect("heartbeat", isinstance(item, Comment), R_HEARTBEAT,
             expected="a comment line (`: heartbeat`) within 2 s (the lab runs with --sse-heartbeat 0.5)",
             got=_describe(item) + "\n" + st.shown(),
             hint="encode_comment(text) writes `: text` lines: a parser must see a comment, not a field.")
    st.close()


CHECKS = {
    "encode-comments-and-retry": ProgramCheck(PROGRAM, [
        encodes("heartbeat", "encode_comment", {"kind": "comment", "text": "heartbeat"}, [C("heartbeat")], R_COMMENT),
        encodes("empty-comment", "encode_comment", {"kind": "comment", "text": ""}, [C("")], R_COMMENT),
        encodes("two-line-comment", "encode_comment", {"kind": "comment", "text": "a\nb"}, [C("a"), C("b")],
                R_COMMENT, hint="Each line of a comment starts with `:`."),
        encodes("retry-line", "encode_retry", {"kind": "retry", "ms": 3000}, [], R_RETRY, retry=3000),
    ]),
    "parse-end-of-stream": ProgramCheck(PROGRAM, [
        *parses("unterminated-dropped", b"data: x\n\ndata: cut", [E("x")],
                "§9.2.6: \"If the file ends in the middle of an event, before the final empty line, the incomplete "
                "event is not dispatched\"", eof=True),
        *parses("no-blank-line", b"data: x\n", [], R_BLANK, eof=True),
    ]),
    "lab-heartbeat": ScenarioCheck(heartbeat_on_a_quiet_stream, SERVE),
}
