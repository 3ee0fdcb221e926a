"""TCP stream reassembly by sequence number, keeping which segment carried each byte.

A capture is a list of segments; a protocol parser wants two byte streams per
connection, one per direction. scapy's ``TCPSession`` joins payloads but forgets which
segment carried what, and trusts capture order. Here every direction is rebuilt from
sequence numbers (RFC 9293 section 3.4), so the result does not depend on the order the
capture lists the segments in:

- a retransmitted or duplicated segment adds nothing: its bytes are already placed;
- reordered segments land at their offsets;
- overlapping segments: the byte from the segment seen first (by capture time) wins,
  and that segment is recorded as the one that carried it.

Sequence numbers are 32-bit and wrap (RFC 9293 section 3.4): offsets are computed
modulo 2**32 from the initial sequence number, which is the SYN's when the capture holds
it (the SYN itself occupies one sequence number), else the lowest one seen.

Nothing here touches the network: `segments_from_packets` turns scapy packets (from a
live capture or a pcap file) into plain `Segment` records and the rest is pure data.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Iterable

__all__ = [
    "Segment",
    "Piece",
    "Stream",
    "Connection",
    "segments_from_packets",
    "split_connections",
    "reassemble",
]

SEQ_MOD = 2**32
# A segment further than this past the stream start is taken as belonging to another
# incarnation of the connection, not as a giant hole (half the sequence space, the
# same bound RFC 1982 serial-number arithmetic uses).
SEQ_HALF = 2**31

Endpoint = tuple[str, int]


@dataclass(frozen=True)
class Segment:
    """One TCP segment as captured: addresses, header fields, payload, capture time."""

    index: int  # position in the capture (0-based), the segment's identity
    time: float
    src: Endpoint
    dst: Endpoint
    flags: str  # scapy's letters: "S", "SA", "A", "PA", "FA", "R", ...
    seq: int
    ack: int
    window: int
    payload: bytes

    @property
    def syn(self) -> bool:
        return "S" in self.flags

    @property
    def fin(self) -> bool:
        return "F" in self.flags

    @property
    def rst(self) -> bool:
        return "R" in self.flags


@dataclass(frozen=True)
class Piece:
    """Bytes ``[start, end)`` of a stream, all carried by segment ``segment``."""

    start: int
    end: int
    segment: int


@dataclass
class Stream:
    """One direction of a connection, reassembled.

    ``data`` is the contiguous stream from its first byte up to the first hole;
    ``pieces`` say which segment carried each of those bytes; ``gaps`` list byte ranges
    the capture never saw (lost by the capture, or cut off by its end).
    """

    isn: int | None = None  # sequence number of byte 0 minus one (the SYN's), if seen
    base: int = 0  # sequence number of byte 0
    data: bytes = b""
    pieces: list[Piece] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    fin_offset: int | None = None  # stream offset where the FIN sits, if seen
    syn_segment: int | None = None
    fin_segment: int | None = None
    # Lookup tables, built on first use (a stream is not changed once reassembled).
    _by_segment: dict[int, list[Piece]] | None = field(default=None, repr=False, compare=False)
    _starts: list[int] | None = field(default=None, repr=False, compare=False)

    @property
    def closed(self) -> bool:
        """True when the FIN was seen and every byte before it is in ``data``."""
        return self.fin_offset is not None and self.fin_offset == len(self.data)

    def relative(self, seq: int) -> int:
        """Stream offset of sequence number ``seq`` (wraps modulo 2**32)."""
        return (seq - self.base) % SEQ_MOD

    def pieces_of(self, segment: int) -> list[Piece]:
        """The pieces of the stream that segment ``segment`` carried, in order."""
        if self._by_segment is None:
            self._by_segment = {}
            for piece in self.pieces:
                self._by_segment.setdefault(piece.segment, []).append(piece)
        return self._by_segment.get(segment, [])

    def pieces_in(self, start: int, end: int) -> list[Piece]:
        """The pieces that overlap bytes ``[start, end)``, in order."""
        if self._starts is None:
            self._starts = [p.start for p in self.pieces]
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        found = []
        while i < len(self.pieces) and self.pieces[i].start < end:
            if self.pieces[i].end > start:
                found.append(self.pieces[i])
            i += 1
        return found

    def segment_at(self, offset: int) -> int | None:
        """Index of the segment that carried byte ``offset``, or None."""
        found = self.pieces_in(offset, offset + 1)
        return found[0].segment if found else None


@dataclass
class Connection:
    """A TCP connection: its segments in capture-time order and its two streams."""

    number: int
    client: Endpoint
    server: Endpoint
    segments: list[Segment]
    upstream: Stream  # client -> server
    downstream: Stream  # server -> client

    def direction(self, segment: Segment) -> str:
        """'>' for client to server, '<' for server to client."""
        return ">" if segment.src == self.client else "<"

    def stream_of(self, segment: Segment) -> Stream:
        return self.upstream if segment.src == self.client else self.downstream


def segments_from_packets(packets: Iterable[object]) -> list[Segment]:
    """Turn scapy packets into `Segment` records; non-TCP packets are skipped."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6

    segments: list[Segment] = []
    for pkt in packets:
        tcp = pkt.getlayer(TCP) if hasattr(pkt, "getlayer") else None
        if tcp is None:
            continue
        ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if ip is None:
            continue
        payload = bytes(tcp.payload)
        if pkt.getlayer(IP) is not None:
            # Ethernet frames shorter than 60 bytes are padded; the IP total length
            # says where the TCP payload really ends.
            ip_payload_len = ip.len - ip.ihl * 4
            payload = payload[: max(0, ip_payload_len - tcp.dataofs * 4)]
        segments.append(
            Segment(
                index=len(segments),
                time=float(pkt.time),
                src=(str(ip.src), int(tcp.sport)),
                dst=(str(ip.dst), int(tcp.dport)),
                flags=str(tcp.flags),
                seq=int(tcp.seq),
                ack=int(tcp.ack),
                window=int(tcp.window),
                payload=payload,
            )
        )
    return segments


def split_connections(
    segments: Iterable[Segment], server_port: int | None = None
) -> list[Connection]:
    """Group segments into connections and reassemble both directions of each.

    The client is the side that sent the SYN without ACK. Without a SYN in the
    capture, the side using ``server_port`` is the server, else the lower port.
    A new SYN on a 4-tuple whose connection already had a different SYN starts a
    new connection (port reuse).
    """
    ordered = sorted(segments, key=lambda s: (s.time, s.index))
    groups: dict[frozenset[Endpoint], list[list[Segment]]] = {}
    for seg in ordered:
        key = frozenset((seg.src, seg.dst))
        incarnations = groups.setdefault(key, [[]])
        current = incarnations[-1]
        if seg.flags == "S" and _has_other_syn(current, seg):
            current = []
            incarnations.append(current)
        current.append(seg)
    connections: list[Connection] = []
    for incarnations in groups.values():
        for segs in incarnations:
            client, server = _roles(segs, server_port)
            connections.append(
                Connection(
                    number=0,
                    client=client,
                    server=server,
                    segments=segs,
                    upstream=reassemble(s for s in segs if s.src == client),
                    downstream=reassemble(s for s in segs if s.src == server),
                )
            )
    connections.sort(key=lambda c: (c.segments[0].time, c.segments[0].index))
    for number, conn in enumerate(connections, start=1):
        conn.number = number
    return connections


def _has_other_syn(segments: list[Segment], syn: Segment) -> bool:
    return any(s.flags == "S" and s.seq != syn.seq for s in segments)


def _roles(segments: list[Segment], server_port: int | None) -> tuple[Endpoint, Endpoint]:
    for seg in segments:
        if seg.syn and "A" not in seg.flags:
            return seg.src, seg.dst
    for seg in segments:
        if "A" in seg.flags and seg.syn:
            return seg.dst, seg.src
    first = segments[0]
    if server_port is not None and first.src[1] == server_port:
        return first.dst, first.src
    if server_port is not None and first.dst[1] == server_port:
        return first.src, first.dst
    return (first.src, first.dst) if first.src[1] > first.dst[1] else (first.dst, first.src)


def reassemble(segments: Iterable[Segment]) -> Stream:
    """Rebuild one direction from its segments, whatever their order or repeats.

    The segment seen first in capture time (ties: capture index) carries a byte; a
    later copy of the same byte, identical or not, is ignored, as a receiver that
    already acknowledged it would.
    """
    segs = sorted(segments, key=lambda s: (s.time, s.index))
    stream = Stream()
    if not segs:
        return stream
    syn = next((s for s in segs if s.syn), None)
    if syn is not None:
        stream.isn = syn.seq
        stream.base = (syn.seq + 1) % SEQ_MOD
        stream.syn_segment = syn.index
    else:
        stream.base = _lowest_seq([s for s in segs if s.payload or s.fin] or segs)

    buffer = bytearray()
    starts: list[int] = []  # sorted starts of placed pieces
    placed: list[Piece] = []
    for seg in segs:
        # The SYN occupies one sequence number; data (TCP Fast Open) follows it.
        payload_offset = stream.relative(seg.seq + 1 if seg.syn else seg.seq)
        if payload_offset >= SEQ_HALF:
            continue  # before the stream start: a stale segment from an earlier life
        if seg.payload:
            for start, end in _uncovered(placed, starts, payload_offset, payload_offset + len(seg.payload)):
                if len(buffer) < end:
                    buffer.extend(b"\x00" * (end - len(buffer)))
                buffer[start:end] = seg.payload[start - payload_offset : end - payload_offset]
                piece = Piece(start, end, seg.index)
                i = bisect.bisect_left(starts, start)
                starts.insert(i, start)
                placed.insert(i, piece)
        if seg.fin and stream.fin_offset is None:
            stream.fin_offset = payload_offset + len(seg.payload)
            stream.fin_segment = seg.index

    contiguous = 0
    for piece in placed:
        if piece.start > contiguous:
            break
        contiguous = max(contiguous, piece.end)
    stream.data = bytes(buffer[:contiguous])
    stream.pieces = _merge([p for p in placed if p.start < contiguous])
    stream.gaps = _gaps(placed, stream.fin_offset)
    return stream


def _lowest_seq(segments: list[Segment]) -> int:
    """The sequence number that comes first, modulo 2**32, among ``segments``."""
    ref = segments[0].seq
    return min(segments, key=lambda s: ((s.seq - ref + SEQ_HALF) % SEQ_MOD)).seq


def _uncovered(placed: list[Piece], starts: list[int], start: int, end: int) -> list[tuple[int, int]]:
    """Sub-ranges of ``[start, end)`` that no placed piece covers yet."""
    result: list[tuple[int, int]] = []
    cursor = start
    i = max(0, bisect.bisect_right(starts, start) - 1)
    while cursor < end and i < len(placed):
        piece = placed[i]
        if piece.end <= cursor:
            i += 1
            continue
        if piece.start >= end:
            break
        if piece.start > cursor:
            result.append((cursor, piece.start))
        cursor = max(cursor, piece.end)
        i += 1
    if cursor < end:
        result.append((cursor, end))
    return result


def _merge(pieces: list[Piece]) -> list[Piece]:
    """Join adjacent pieces carried by the same segment (a split by an overlap)."""
    merged: list[Piece] = []
    for piece in pieces:
        if merged and merged[-1].segment == piece.segment and merged[-1].end == piece.start:
            merged[-1] = Piece(merged[-1].start, piece.end, piece.segment)
        else:
            merged.append(piece)
    return merged


def _gaps(placed: list[Piece], fin_offset: int | None) -> list[tuple[int, int]]:
    gaps: list[tuple[int, int]] = []
    cursor = 0
    for piece in placed:
        if piece.start > cursor:
            gaps.append((cursor, piece.start))
        cursor = max(cursor, piece.end)
    if fin_offset is not None and fin_offset > cursor:
        gaps.append((cursor, fin_offset))
    return gaps
