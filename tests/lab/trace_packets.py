"""Crafted TCP conversations for the tracer's tests: scapy packets, no capture needed."""
from __future__ import annotations

import random

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

CLIENT = ("127.0.0.1", 50000)
SERVER = ("127.0.0.1", 8080)


def segment(src, dst, flags, seq, ack, payload=b"", t=0.0):
    pkt = Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / IP(src=src[0], dst=dst[0]) / TCP(
        sport=src[1], dport=dst[1], flags=flags, seq=seq % 2**32, ack=ack % 2**32, window=65535)
    if payload:
        pkt = pkt / Raw(payload)
    pkt = Ether(bytes(pkt))  # as read from a file: checksums and lengths computed
    pkt.time = t
    return pkt


def conversation(turns, client_isn=1000, server_isn=5000, client=CLIENT, server=SERVER):
    """Handshake, then ``turns`` as (">" or "<", bytes) each its own segment, then FINs.

    Times grow by 1 ms per packet. Returns the packets in order.
    """
    c_seq, s_seq = client_isn, server_isn
    t = iter(i / 1000 for i in range(10_000))
    pkts = [segment(client, server, "S", c_seq, 0, t=next(t))]
    pkts.append(segment(server, client, "SA", s_seq, c_seq + 1, t=next(t)))
    c_seq, s_seq = c_seq + 1, s_seq + 1
    pkts.append(segment(client, server, "A", c_seq, s_seq, t=next(t)))
    for direction, data in turns:
        if direction == ">":
            pkts.append(segment(client, server, "PA", c_seq, s_seq, data, t=next(t)))
            c_seq += len(data)
        else:
            pkts.append(segment(server, client, "PA", s_seq, c_seq, data, t=next(t)))
            s_seq += len(data)
    pkts.append(segment(client, server, "FA", c_seq, s_seq, t=next(t)))
    pkts.append(segment(server, client, "FA", s_seq, c_seq + 1, t=next(t)))
    pkts.append(segment(client, server, "A", c_seq + 1, s_seq + 1, t=next(t)))
    return pkts


def split(data: bytes, sizes) -> list[bytes]:
    out, pos = [], 0
    for size in sizes:
        out.append(data[pos:pos + size])
        pos += size
    if pos < len(data):
        out.append(data[pos:])
    return [p for p in out if p]


def mangle(packets, seed=7):
    """The same traffic as a bad capture lists it: shuffled, some packets duplicated,
    a data segment retransmitted later (same bytes, later time)."""
    rng = random.Random(seed)
    out = list(packets)
    data = [p for p in packets if len(p[TCP].payload)]
    for p in rng.sample(data, k=min(3, len(data))):
        dup = p.copy()
        dup.time = p.time  # a duplicate: same packet twice
        out.append(dup)
    late = data[0].copy()
    late.time = packets[-1].time + 0.2  # a retransmission after everything
    out.append(late)
    rng.shuffle(out)
    return out
