"""Hidden checks of exercise 12-reading-a-pcap: never shipped in the student kit."""
from __future__ import annotations

from ..checks.pcap import QUESTIONS, PcapCheck

CHECKS = {
    "more-captures": PcapCheck([(q, ()) for q in QUESTIONS if q != "websocket_opcodes"]
                               + [("websocket_opcodes", ("client",)), ("websocket_opcodes", ("server",))],
                               captures=3),
}
