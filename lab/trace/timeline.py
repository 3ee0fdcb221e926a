"""The annotated timeline: one entry per TCP segment, with the elements it carried.

Text for people, JSON for scripts and the grader. Both come from the same records:

    {"index": 3, "time": 0.000412, "connection": 1, "direction": ">",
     "src": "127.0.0.1:51234", "dst": "127.0.0.1:8080", "flags": "PA",
     "seq": 1, "ack": 1, "len": 78, "range": [0, 78], "retransmission": false,
     "elements": [{"name": "request line", "start": 0, "end": 16, "detail": "...",
                   "complete": true, "carried": [0, 16], "shown": [0, 16],
                   "bytes": "GET / HTTP/1.1\\r\\n"}, ...]}

``seq`` and ``ack`` are relative, as Wireshark shows them (the SYN is 0); ``range`` is
the part of the direction's stream this segment was the first to carry (None for a
segment with no new bytes); each element's ``start``/``end`` are stream offsets and
``carried`` is the part of the element inside this segment and ``bytes`` shows the
first `PREVIEW_BYTES` of it (``shown``), escaped: ``\\r\\n`` visible, other control
bytes as ``\\xNN``, a mostly binary run as hex.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .annotate import Element
from .reassembly import SEQ_MOD, Connection, Segment, Stream

__all__ = ["Trace", "build_trace", "render_text", "render_json", "escape"]

SHOW_BYTES = 96  # characters of escaped bytes shown per element in the text view
PREVIEW_BYTES = 512  # bytes of an element escaped per segment (a 1 MiB body is not printed)

TAP_NOTE = ("application-level byte tap: each entry is one send() or recv() call with its "
            "time; these are read/write boundaries, not TCP segments (no handshake, flags, "
            "sequence numbers or FIN)")


@dataclass
class Trace:
    mode: str  # "capture" or "tap"
    connections: list[Connection]
    elements: dict[int, list[Element]]  # by connection number
    records: list[dict[str, object]] = field(default_factory=list)
    note: str = ""


def escape(data: bytes) -> str:
    """Bytes for a terminal: text with \\r\\n visible, binary as hex."""
    if not data:
        return ""
    text_like = sum(1 for b in data if 0x20 <= b < 0x7F or b in (9, 10, 13))
    if text_like < 0.75 * len(data):
        return "hex:" + data.hex(" ")
    out = []
    for b in data:
        if b == 13:
            out.append("\\r")
        elif b == 10:
            out.append("\\n")
        elif b == 9:
            out.append("\\t")
        elif b == 0x5C:
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def build_trace(mode: str, connections: list[Connection], elements: dict[int, list[Element]],
                note: str = "") -> Trace:
    trace = Trace(mode, connections, elements, note=note or (TAP_NOTE if mode == "tap" else ""))
    carried = {c.number: _carried(c, elements.get(c.number, [])) for c in connections}
    segments = sorted(((s, c) for c in connections for s in c.segments), key=lambda sc: (sc[0].time, sc[0].index))
    t0 = segments[0][0].time if segments else 0.0
    for seg, conn in segments:
        trace.records.append(_record(seg, conn, carried[conn.number].get(seg.index, []), t0))
    return trace


def _carried(conn: Connection, elements: list[Element]) -> dict[int, list[dict[str, object]]]:
    """For each segment, the parts of elements it carried, in stream order."""
    by_segment: dict[int, list[tuple[int, dict[str, object]]]] = {}
    for el in elements:
        stream = conn.upstream if el.direction == ">" else conn.downstream
        for piece in stream.pieces_in(el.start, el.end):
            lo, hi = max(el.start, piece.start), min(el.end, piece.end)
            shown = min(hi, lo + PREVIEW_BYTES)
            by_segment.setdefault(piece.segment, []).append((lo, {
                "name": el.name, "start": el.start, "end": el.end, "detail": el.detail,
                "complete": el.start >= piece.start and el.end <= piece.end,
                "carried": [lo, hi], "bytes": escape(stream.data[lo:shown]), "shown": [lo, shown],
            }))
    return {seg: [part for _, part in sorted(parts, key=lambda p: p[0])] for seg, parts in by_segment.items()}


def _record(seg: Segment, conn: Connection, carried: list[dict[str, object]], t0: float) -> dict[str, object]:
    direction = conn.direction(seg)
    mine, other = (conn.upstream, conn.downstream) if direction == ">" else (conn.downstream, conn.upstream)
    pieces = mine.pieces_of(seg.index)
    span = [pieces[0].start, pieces[-1].end] if pieces else None
    return {
        "index": seg.index,
        "time": round(seg.time - t0, 6),
        "connection": conn.number,
        "direction": direction,
        "src": f"{seg.src[0]}:{seg.src[1]}",
        "dst": f"{seg.dst[0]}:{seg.dst[1]}",
        "flags": seg.flags,
        "seq": _relative(seg.seq, mine),
        "ack": _relative(seg.ack, other) if "A" in seg.flags else 0,
        "len": len(seg.payload),
        "range": span,
        "retransmission": bool(seg.payload) and not pieces,
        "elements": carried,
    }


def _relative(seq: int, stream: Stream) -> int:
    """Sequence number relative to the stream's ISN (the SYN is 0, data starts at 1)."""
    return (seq - stream.base + 1) % SEQ_MOD


def render_json(trace: Trace) -> str:
    doc = {
        "mode": trace.mode,
        "note": trace.note,
        "connections": [_connection_json(c, trace.elements.get(c.number, [])) for c in trace.connections],
        "segments": trace.records,
    }
    return json.dumps(doc, indent=1)


def _connection_json(conn: Connection, elements: list[Element]) -> dict[str, object]:
    return {
        "number": conn.number,
        "client": f"{conn.client[0]}:{conn.client[1]}",
        "server": f"{conn.server[0]}:{conn.server[1]}",
        "bytes": {">": len(conn.upstream.data), "<": len(conn.downstream.data)},
        "gaps": {">": conn.upstream.gaps, "<": conn.downstream.gaps},
        "fin": {">": conn.upstream.fin_offset is not None, "<": conn.downstream.fin_offset is not None},
        "elements": [e.as_dict() for e in elements],
    }


def render_text(trace: Trace) -> str:
    lines: list[str] = []
    if trace.note:
        lines.append(f"note: {trace.note}")
    for conn in trace.connections:
        lines.append(f"connection {conn.number}: client {conn.client[0]}:{conn.client[1]} "
                     f"-> server {conn.server[0]}:{conn.server[1]}  "
                     f"({len(conn.upstream.data)} bytes >, {len(conn.downstream.data)} bytes <)")
        for name, stream in (("client>server", conn.upstream), ("server>client", conn.downstream)):
            if stream.gaps:
                lines.append(f"  warning: {name} bytes missing from the capture: {stream.gaps}")
    lines.append("")
    tap = trace.mode == "tap"
    for rec in trace.records:
        arrow = "C>S" if rec["direction"] == ">" else "S>C"
        if tap:
            call = "send" if rec["direction"] == ">" else "recv"
            lines.append(f"{rec['time']:10.6f}  #{rec['index']:<4} conn {rec['connection']} {arrow} "
                         f"{call:<4} len={rec['len']}")
        else:
            lines.append(f"{rec['time']:10.6f}  #{rec['index']:<4} conn {rec['connection']} {arrow} "
                         f"[{rec['flags']:<3}] seq={rec['seq']} ack={rec['ack']} len={rec['len']}")
        if rec["retransmission"]:
            lines.append("            (no new bytes: a retransmission or duplicate)")
        for el in rec["elements"]:  # type: ignore[union-attr]
            mark = "" if el["complete"] else " (part)"
            shown = el["bytes"]
            if len(shown) > SHOW_BYTES:
                shown = shown[:SHOW_BYTES] + f"... ({el['carried'][1] - el['carried'][0]} bytes here)"
            detail = f"  {el['detail']}" if el["detail"] and el["name"] not in ("request line", "status line") else ""
            lines.append(f"            {el['name'] + mark:<24} [{el['start']},{el['end']}){detail}")
            lines.append(f"              {shown}")
    return "\n".join(lines) + "\n"
