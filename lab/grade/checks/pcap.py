"""Check bodies for exercise 12-reading-a-pcap: questions about a capture, answered with scapy.

The grader makes the capture itself, offline: a seeded scenario is written as TCP
segments with scapy (no network, no root, the same bytes for the same seed) and saved
as a pcap next to the student's code. The scenario is a browser-like session on
127.0.0.1:8080: one keep-alive HTTP/1.1 connection with a few requests, and one
WebSocket connection. It carries the traps a real capture has:

- a retransmitted segment (the same sequence number and bytes, sent again after an
  RTO): each byte must be counted once, each request once;
- segments captured out of order (a later segment first): a stream is rebuilt by
  sequence number, not by capture order; the split sits inside the request-line or
  the status line, so reading capture order gives wrong answers;
- a client initial sequence number close to 2**32 (on some seeds): offsets wrap.

Ground truth comes from the lab's tracer: ``lab.trace.reassembly`` rebuilds each
direction by sequence number (``truth`` then walks the HTTP heads and WebSocket frame
headers in those streams; the annotator agrees, see the exercise's tests). The student's ``answers.py`` runs in the
sandbox (as the grader's own user: scapy lives in the lab's virtualenv, which the
``nobody`` account cannot read; cgroup, rlimits and the private network namespace
still apply) and its answers are compared with that truth.
"""
from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import CheckOutcome, Context
from .programs import Call, ProgramCheck, Verdict, raised

__all__ = ["CHECKS", "build_scenario", "truth", "PcapCheck", "QUESTIONS"]

SERVER = ("127.0.0.1", 8080)
QUESTIONS = ("handshake_rtt", "count_requests", "first_response_status", "bytes_from_client", "websocket_opcodes")

PROGRAM = r'''
def run(m, a):
    fn = getattr(m, a["fn"])
    value = fn(a["path"], *a.get("args", []))
    if a["fn"] == "websocket_opcodes":
        return [int(x) for x in value]
    if a["fn"] == "handshake_rtt":
        return float(value)
    return int(value)
'''


# --- the scenario ----------------------------------------------------------------------


@dataclass
class Seg:
    time: float
    src: tuple
    dst: tuple
    flags: str
    seq: int
    ack: int
    payload: bytes = b""


@dataclass
class Side:
    addr: tuple
    seq: int  # next sequence number to send


@dataclass
class Conn:
    client: Side
    server: Side
    segs: list = field(default_factory=list)

    def send(self, t: float, who: str, payload: bytes = b"", flags: str = "PA") -> Seg:
        a, b = (self.client, self.server) if who == "c" else (self.server, self.client)
        seg = Seg(t, a.addr, b.addr, flags, a.seq % 2**32, b.seq % 2**32, payload)
        a.seq += len(payload) + (1 if "S" in flags or "F" in flags else 0)
        self.segs.append(seg)
        return seg


def _split(rng: random.Random, data: bytes, parts: int, inside: int | None = None) -> list[bytes]:
    """``data`` in ``parts`` pieces; with ``inside``, the first cut falls before that offset."""
    if parts <= 1 or len(data) < parts:
        return [data]
    cuts = set()
    if inside is not None and inside > 1:
        cuts.add(rng.randrange(1, inside))
    while len(cuts) < parts - 1:
        cuts.add(rng.randrange(1, len(data)))
    bounds = [0, *sorted(cuts), len(data)]
    return [data[x:y] for x, y in zip(bounds, bounds[1:])]


def _exchange_pieces(conn: Conn, t: float, who: str, pieces: list[bytes], gap: float) -> float:
    for p in pieces:
        conn.send(t, who, p)
        t += gap
    conn.send(t, "s" if who == "c" else "c", b"", "A")
    return t + gap


def _handshake(rng: random.Random, conn: Conn, t: float, rtt: float) -> float:
    conn.send(t, "c", b"", "S")
    conn.send(t + rtt, "s", b"", "SA")
    conn.send(t + rtt + 0.00002, "c", b"", "A")
    return t + rtt + 0.0001


def _close(conn: Conn, t: float) -> float:
    conn.send(t, "c", b"", "FA")
    conn.send(t + 0.00005, "s", b"", "FA")
    conn.send(t + 0.0001, "c", b"", "A")
    return t + 0.0002


REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 404: "Not Found", 400: "Bad Request"}


def _mask(payload: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def _ws_frame(rng: random.Random, opcode: int, payload: bytes, masked: bool) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    bit = 0x80 if masked else 0
    head += bytes([bit | n]) if n < 126 else bytes([bit | 126]) + struct.pack("!H", n)
    if not masked:
        return head + payload
    key = rng.randbytes(4)
    return head + key + _mask(payload, key)


def build_scenario(seed: int) -> list[Seg]:
    """The segments of one seeded session, in capture order (with its traps)."""
    rng = random.Random(f"pcap:{seed}")
    t = 1_700_000_000 + rng.randrange(10**7) + rng.random()

    # -- connection 1: keep-alive HTTP/1.1 ------------------------------------------------
    wrap = rng.random() < 0.5
    c_isn = (2**32 - rng.randrange(20, 400)) if wrap else rng.randrange(2**32)
    conn = Conn(Side(("127.0.0.1", rng.randrange(40000, 60000)), c_isn), Side(SERVER, rng.randrange(2**32)))
    rtt = round(rng.uniform(0.0004, 0.02), 6)
    t = _handshake(rng, conn, t, rtt)
    n_requests = rng.randint(2, 4)
    statuses = [rng.choice([200, 201, 202, 404, 400]) for _ in range(n_requests)]
    reorder_request = rng.randrange(n_requests)
    # Another request is sent whole, then again whole: a retransmission of a request line.
    retransmit_request = rng.choice([i for i in range(n_requests) if i != reorder_request])
    for i in range(n_requests):
        if rng.random() < 0.5:
            body = f'{{"seconds": {rng.randint(1, 9)}}}'.encode()
            req = (f"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        else:
            req = f"GET /topics/news?after={rng.randint(0, 9)} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".encode()
        parts = 3 if i == reorder_request else 1 if i == retransmit_request else rng.randint(1, 2)
        pieces = _split(rng, req, parts, inside=4)
        start = len(conn.segs)
        t = _exchange_pieces(conn, t, "c", pieces, 0.00003)
        if i == reorder_request:
            # the second piece is captured before the first
            first, second = conn.segs[start], conn.segs[start + 1]
            conn.segs[start], conn.segs[start + 1] = replace(second, time=first.time), replace(first, time=second.time)
        if i == retransmit_request:
            dup = conn.segs[start]  # the RTO fires: the same bytes, again, later
            t += 0.2
            conn.segs.append(replace(dup, time=t))
            t += 0.00005
        status = statuses[i]
        body = b"" if status == 204 else f'{{"n": {i}, "status": {status}}}'.encode()
        resp = (f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        split_status = i == 0
        pieces = _split(rng, resp, 2, inside=12) if split_status else [resp]
        start = len(conn.segs)
        t = _exchange_pieces(conn, t + 0.001, "s", pieces, 0.00003)
        if split_status and len(pieces) == 2:
            first, second = conn.segs[start], conn.segs[start + 1]
            conn.segs[start], conn.segs[start + 1] = replace(second, time=first.time), replace(first, time=second.time)
        t += rng.uniform(0.01, 0.05)
    t = _close(conn, t)
    segs = list(conn.segs)

    # -- connection 2: a WebSocket --------------------------------------------------------
    t += rng.uniform(0.01, 0.1)
    ws = Conn(Side(("127.0.0.1", rng.randrange(40000, 60000)), rng.randrange(2**32)), Side(SERVER, rng.randrange(2**32)))
    t = _handshake(rng, ws, t, round(rng.uniform(0.0004, 0.02), 6))
    upgrade = (b"GET /topics/news/ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    t = _exchange_pieces(ws, t, "c", [upgrade], 0.00003)
    t = _exchange_pieces(ws, t + 0.001, "s", [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                               b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                                               b"s3pPLMBiTxaQ9kYGJRzPoxKxW0o=\r\n\r\n"], 0.00003)
    plan = [("s", 1, b'{"offset":1,"data":"hello"}')]
    for k in range(rng.randint(1, 3)):
        plan.append(rng.choice([("c", 1, f"message {k}".encode()), ("s", 1, f'{{"offset":{k + 2}}}'.encode()),
                                ("c", 9, b"ping"), ("c", 2, rng.randbytes(rng.randint(1, 200)))]))
        if plan[-1][:2] == ("c", 9):
            plan.append(("s", 10, b"ping"))
    plan += [("c", 8, b"\x03\xe8bye"), ("s", 8, b"\x03\xe8")]
    retransmit_frame = rng.randrange(len(plan))
    for k, (who, opcode, payload) in enumerate(plan):
        frame = _ws_frame(rng, opcode, payload, masked=who == "c")
        pieces = _split(rng, frame, rng.randint(1, 2))
        start = len(ws.segs)
        t = _exchange_pieces(ws, t + 0.002, who, pieces, 0.00003)
        if k == retransmit_frame:
            t += 0.2
            ws.segs.append(replace(ws.segs[start], time=t))
    t = _close(ws, t + 0.001)
    return segs + ws.segs


def write_pcap(segs: list[Seg], path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap

    packets = []
    for s in segs:
        pkt = (Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / IP(src=s.src[0], dst=s.dst[0])
               / TCP(sport=s.src[1], dport=s.dst[1], flags=s.flags, seq=s.seq, ack=s.ack, window=65483))
        if s.payload:
            pkt = pkt / Raw(s.payload)
        pkt.time = s.time
        packets.append(pkt)
    wrpcap(str(path), packets)


# --- the truth, from the tracer ---------------------------------------------------------


def truth(path: Path) -> dict:
    """Every question's answer: the streams rebuilt by the lab's tracer
    (``lab.trace.reassembly``, by sequence number), read by the small walkers below.

    Only modules no exercise replaces are used here: in the student kit the HTTP and
    WebSocket cores are starters, so the tracer's annotator (which runs them) cannot be
    the referee there."""
    from scapy.utils import rdpcap

    from lab.trace.reassembly import segments_from_packets, split_connections

    segments = segments_from_packets(rdpcap(str(path)))
    conns = split_connections(segments, server_port=SERVER[1])
    by_index = {s.index: s for s in segments}
    first = conns[0]
    syn = next(s for s in first.segments if s.flags == "S")
    synack = next(s for s in first.segments if s.flags == "SA")
    requests = 0
    first_status: tuple[float, int] | None = None
    opcodes: dict[str, list[int]] = {"client": [], "server": []}
    for conn in conns:
        up, down = list(_heads(conn.upstream.data)), list(_heads(conn.downstream.data))
        requests += len(up)
        if down:
            line_end = conn.downstream.data.index(b"\r\n")
            # when its last byte arrived (a piece captured late completes it late)
            when = max(by_index[p.segment].time for p in conn.downstream.pieces_in(0, line_end))
            status = int(conn.downstream.data[:line_end].split(b" ")[1])
            if first_status is None or when < first_status[0]:
                first_status = (when, status)
        if up and down and b"upgrade: websocket" in up[-1][1].lower() and down[-1][1].startswith(b"HTTP/1.1 101"):
            opcodes["client"] += _frame_opcodes(conn.upstream.data, up[-1][0])
            opcodes["server"] += _frame_opcodes(conn.downstream.data, down[-1][0])
    return {
        "handshake_rtt": round(synack.time - syn.time, 6),
        "count_requests": requests,
        "first_response_status": first_status[1] if first_status else None,
        "bytes_from_client": sum(len(c.upstream.data) for c in conns),
        "websocket_opcodes": opcodes,
    }


def _heads(data: bytes):
    """(end, head) of each HTTP/1.1 message from the stream's start (RFC 9112 §2.1: the
    head ends with an empty line, then Content-Length bytes of body), up to a 101 or
    an upgrade request, after which the bytes are WebSocket frames."""
    pos = 0
    while True:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            return
        head = data[pos:end + 2]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        yield end + 4, head
        if head.startswith(b"HTTP/1.1 101") or b"upgrade: websocket" in head.lower():
            return
        pos = end + 4 + length


def _frame_opcodes(data: bytes, pos: int) -> list[int]:
    """RFC 6455 §5.2: the opcode of each complete frame from ``pos`` on."""
    out = []
    while pos + 2 <= len(data):
        second = data[pos + 1]
        length, at = second & 0x7F, pos + 2
        if length in (126, 127):
            width = 2 if length == 126 else 8
            length, at = int.from_bytes(data[at:at + width], "big"), at + width
        at += 4 if second & 0x80 else 0
        if at + length > len(data):
            break
        out.append(data[pos] & 0x0F)
        pos = at + length
    return out


# --- the checks -------------------------------------------------------------------------

RULES = {
    "handshake_rtt": "RFC 9293 §3.5: the three-way handshake; its RTT is the time from the client's SYN to the "
                     "server's SYN-ACK (pcap timestamps, seconds)",
    "count_requests": "RFC 9112 §3: one request-line per request, counted in each client stream rebuilt by "
                      "sequence number (RFC 9293 §3.4), so a retransmitted or reordered segment changes nothing",
    "first_response_status": "RFC 9112 §4: the status code of the status line that completed first in the capture",
    "bytes_from_client": "RFC 9293 §3.4: each sequence number carries one byte once: a retransmission adds no "
                         "bytes; count every client-to-server payload byte of every connection once",
    "websocket_opcodes": "RFC 6455 §5.2: the opcode of every WebSocket frame after the 101, in stream order",
}
HINTS = {
    "count_requests": "Rebuild each direction by sequence number before parsing: capture order is not stream order, "
                      "and a retransmitted segment repeats bytes.",
    "bytes_from_client": "A retransmitted segment repeats sequence numbers already seen: count each byte once.",
    "first_response_status": "The first segment in the capture may not hold the start of the stream: order by "
                             "sequence number.",
    "handshake_rtt": "SYN-ACK time minus SYN time, in seconds, from each packet's timestamp (pkt.time).",
    "websocket_opcodes": "Frames start after the 101's empty line; a frame may span segments, a segment may hold "
                         "several frames, and a retransmitted segment repeats one.",
}


def _judge(question: str, want, side: str | None = None):
    def judge(got: dict) -> Verdict:
        shown_want = repr(want)
        if "exception" in got:
            return Verdict(False, shown_want, raised(got), HINTS[question])
        value = got["value"]
        if question == "handshake_rtt":
            ok = isinstance(value, float) and abs(value - want) <= 2e-6
        else:
            ok = value == want
        return Verdict(ok, shown_want, repr(value), HINTS[question])
    return judge


class PcapCheck(ProgramCheck):
    """Build the seed's capture in the run folder, ask ``questions``, judge with the truth."""

    def __init__(self, questions: list[tuple[str, tuple]], captures: int = 2) -> None:
        super().__init__(PROGRAM, [])
        self.questions = questions
        self.captures = captures

    def run(self, ctx: Context) -> CheckOutcome:
        calls = []
        for k in range(self.captures):
            seed = ctx.rng.randrange(2**31)
            path = Path(ctx.submission) / f"capture-{k + 1}.pcap"
            write_pcap(build_scenario(seed), path)
            facts = truth(path)
            for question, args in self.questions:
                want = facts[question]
                if question == "websocket_opcodes":
                    want = want[args[0]]
                call_args = {"fn": question, "path": str(path), "args": list(args)}
                shown = ", ".join([f"'capture-{k + 1}.pcap'", *map(repr, args)])
                calls.append(Call(f"capture-{k + 1}/{question}{'/' + args[0] if args else ''}", call_args,
                                  _judge(question, want), RULES[question], sent=f"{question}({shown})",
                                  reproduce=f"python -m lab.grade.checks.pcap --seed {seed} --out capture.pcap"))
        return ProgramCheck(PROGRAM, calls, drop_privileges=False).run(ctx)


CHECKS = {
    "handshake-rtt": PcapCheck([("handshake_rtt", ())]),
    "count-requests": PcapCheck([("count_requests", ())]),
    "first-response-status": PcapCheck([("first_response_status", ())]),
    "bytes-from-client": PcapCheck([("bytes_from_client", ())]),
    "websocket-opcodes": PcapCheck([("websocket_opcodes", ("client",)), ("websocket_opcodes", ("server",))]),
}


def main(argv: list[str] | None = None) -> int:
    """``python -m lab.grade.checks.pcap --seed S --out FILE``: write the capture a
    check used (its seed is in the reproduction line), to open in Wireshark or scapy."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m lab.grade.checks.pcap", description=main.__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, default=Path("capture.pcap"))
    ap.add_argument("--truth", action="store_true", help="also print the answers (instructors)")
    args = ap.parse_args(argv)
    write_pcap(build_scenario(args.seed), args.out)
    print(f"wrote {args.out}")
    if args.truth:
        print(json.dumps(truth(args.out), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
