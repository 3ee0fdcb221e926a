"""Hidden checks of exercise 11-websocket-push: never shipped in the student kit."""
from __future__ import annotations

from protocols.websocket.frames import Close

from ..checks.labserver import Scenario, ScenarioCheck
from ..checks.websocket import frame
from ..checks.websocket_push import R_ERROR, _describe, _open, _topic


def protocol_error_closes(s: Scenario) -> None:
    ws = _open(s, _topic(s, "rude"))
    ws.send(frame(1, b"unmasked", mask=None))
    ev = ws.next_event(1.0)
    s.expect("close-1002", isinstance(ev, Close) and ev.code == 1002, R_ERROR, expected="Close(1002) within 1 s",
             sent="an unmasked text frame: " + frame(1, b"unmasked", mask=None).hex(" "),
             got=_describe(ev) + "\n" + ws.dump(), fatal=True)
    after = ws.next_event(1.5)
    s.expect("then-tcp-closed", after == "eof", R_ERROR, expected="EOF", got=_describe(after))
    ws.close()


CHECKS = {
    "protocol-error-closes": ScenarioCheck(protocol_error_closes),
}
