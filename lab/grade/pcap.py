"""`lab grade ... --pcap DIR`: each socket check's traffic, kept and annotated.

A socket check's server runs in the sandbox's private network namespace (as root), so
its packets cross *that* namespace's ``lo``, not the host's: the packet socket is
opened from a thread that joined the namespace (``setns``), exactly like the grader's
client sockets (``checks.net.connect``). Without a namespace (not root) the host's
``lo`` is used, filtered on the server's port.

For each check: ``DIR/<check>.pcap`` (the frames, readable by Wireshark and
``lab inspect``) and ``DIR/<check>.txt`` (the tracer's annotated timeline: every TCP
segment with the HTTP elements it carried). Capture that is not possible here (no
CAP_NET_RAW, no scapy) is said once, in the results' ``notes``, and grading goes on:
never a crash, never a lost point.
"""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path

__all__ = ["CheckCapture", "UNAVAILABLE_NOTE"]

CLONE_NEWNET = 0x40000000
UNAVAILABLE_NOTE = "--pcap: packet capture is not possible here ({why}); checks ran without it"


def _in_netns(pid: int | None, fn):
    """Run ``fn()`` in a thread that joined ``pid``'s network namespace; its result or
    its exception. A socket keeps the namespace it was created in."""
    if pid is None:
        return fn()
    box: dict = {}

    def inside() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    t = threading.Thread(target=inside)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class CheckCapture:
    """Capture one check's traffic on ``port``. ``start`` and ``finish`` never raise."""

    def __init__(self, directory: Path, check: str, port: int, netns_pid: int | None, notes: list[str]) -> None:
        self.directory = Path(directory)
        self.check = check
        self.port = port
        self.netns_pid = netns_pid
        self.notes = notes
        self.sniffer = None

    def _note(self, why: str) -> None:
        if not any(n.startswith("--pcap:") for n in self.notes):
            self.notes.append(UNAVAILABLE_NOTE.format(why=why))

    def start(self) -> None:
        try:
            from lab.trace.capture import CaptureUnavailable, LoopbackSniffer
        except ImportError as exc:  # scapy missing
            self._note(f"the tracer cannot load: {exc}")
            return
        sniffer = LoopbackSniffer(self.port)
        try:
            _in_netns(self.netns_pid, sniffer.start)
        except CaptureUnavailable as exc:
            self._note(str(exc).splitlines()[0])
            return
        except Exception as exc:  # noqa: BLE001 - a capture problem is never the student's
            self._note(f"{type(exc).__name__}: {exc}")
            return
        self.sniffer = sniffer

    def finish(self) -> list[Path]:
        """Drain, stop, write ``<check>.pcap`` and ``<check>.txt``; the files written."""
        if self.sniffer is None:
            return []
        try:
            from lab.trace.cli import annotate_all
            from lab.trace.reassembly import segments_from_packets, split_connections
            from lab.trace.timeline import build_trace, render_text

            import logging

            # scapy warns "Inconsistent linktypes" for raw frames written with their linktype.
            logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
            self.sniffer.drain(quiet=0.2, bound=2.0)
            raw = self.sniffer.stop()
            self.directory.mkdir(parents=True, exist_ok=True)
            pcap = self.directory / f"{self.check}.pcap"
            raw.write_pcap(str(pcap))
            connections = split_connections(segments_from_packets(raw.packets()), self.port)
            text = render_text(build_trace("capture", connections, annotate_all(connections)))
            txt = self.directory / f"{self.check}.txt"
            txt.write_text(f"# {self.check}: {len(raw.frames)} frames on port {self.port}\n" + text)
            return [pcap, txt]
        except Exception as exc:  # noqa: BLE001
            self._note(f"writing the capture failed: {type(exc).__name__}: {exc}")
            return []
