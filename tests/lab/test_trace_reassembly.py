"""Reassembly by sequence number: order, repeats and overlaps do not change the stream."""
from __future__ import annotations

import random

import pytest

from lab.trace.reassembly import reassemble, segments_from_packets, split_connections
from tests.lab.trace_packets import CLIENT, SERVER, conversation, segment, split

REQUEST = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz"


def client_segments(data: bytes, sizes, isn=1000, syn=True):
    pkts = [segment(CLIENT, SERVER, "S", isn, 0, t=0.0)] if syn else []
    seq = isn + 1
    for i, part in enumerate(split(data, sizes)):
        pkts.append(segment(CLIENT, SERVER, "PA", seq, 1, part, t=(i + 1) / 1000))
        seq += len(part)
    return pkts


def test_in_order_segments_give_the_stream_and_who_carried_each_byte():
    pkts = client_segments(REQUEST, [10, 20, 30])
    stream = reassemble(segments_from_packets(pkts))
    assert stream.data == REQUEST
    assert [(p.start, p.end, p.segment) for p in stream.pieces] == [
        (0, 10, 1), (10, 30, 2), (30, 60, 3), (60, len(REQUEST), 4)]
    assert stream.segment_at(0) == 1 and stream.segment_at(59) == 3 and stream.segment_at(60) == 4
    assert stream.gaps == []


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_segments_give_the_same_stream(seed):
    pkts = client_segments(REQUEST, [5, 7, 11, 13, 17])
    segs = segments_from_packets(pkts)
    random.Random(seed).shuffle(segs)
    stream = reassemble(segs)
    assert stream.data == REQUEST
    # Each byte is still attributed to the segment that carried it first.
    clean = reassemble(segments_from_packets(pkts))
    assert stream.pieces == clean.pieces


def test_duplicates_and_retransmissions_add_nothing_and_keep_the_first_carrier():
    pkts = client_segments(REQUEST, [10, 20, 30])
    retransmit = pkts[2].copy()
    retransmit.time = 1.0
    duplicate = pkts[1].copy()
    segs = segments_from_packets(pkts + [retransmit, duplicate])
    stream = reassemble(segs)
    assert stream.data == REQUEST
    assert stream.segment_at(15) == 2  # the original, not the retransmission (index 5)
    assert all(p.segment not in (5, 6) for p in stream.pieces)


def test_overlapping_segments_first_seen_wins_and_new_bytes_are_added():
    isn = 1000
    pkts = [segment(CLIENT, SERVER, "S", isn, 0, t=0.0),
            segment(CLIENT, SERVER, "PA", isn + 1, 1, REQUEST[:20], t=0.001),
            # overlaps bytes 10..19 with different content and adds 20..39
            segment(CLIENT, SERVER, "PA", isn + 11, 1, b"X" * 10 + REQUEST[20:40], t=0.002),
            segment(CLIENT, SERVER, "PA", isn + 41, 1, REQUEST[40:], t=0.003)]
    stream = reassemble(segments_from_packets(pkts))
    assert stream.data == REQUEST
    assert stream.segment_at(15) == 1 and stream.segment_at(25) == 2


def test_sequence_numbers_wrap_around_2_to_the_32():
    pkts = client_segments(REQUEST, [8, 8, 8], isn=2**32 - 12)
    stream = reassemble(segments_from_packets(pkts[::-1]))
    assert stream.data == REQUEST


def test_a_hole_stops_the_stream_and_is_reported():
    pkts = client_segments(REQUEST, [10, 10, 10])
    del pkts[2]  # bytes 10..19 never captured
    stream = reassemble(segments_from_packets(pkts))
    assert stream.data == REQUEST[:10]
    assert stream.gaps == [(10, 20)]


def test_without_a_syn_the_lowest_sequence_number_starts_the_stream():
    pkts = client_segments(REQUEST, [10, 10], isn=77, syn=False)
    stream = reassemble(segments_from_packets(pkts[::-1]))
    assert stream.data == REQUEST and stream.isn is None


def test_fin_offset_marks_the_end_of_the_stream():
    pkts = conversation([(">", b"hello"), ("<", b"world!")])
    (conn,) = split_connections(segments_from_packets(pkts))
    assert conn.upstream.fin_offset == 5 and conn.upstream.closed
    assert conn.downstream.fin_offset == 6 and conn.downstream.closed


def test_connections_are_split_by_four_tuple_and_the_syn_sender_is_the_client():
    a = conversation([(">", b"GET"), ("<", b"OK")])
    b = conversation([(">", b"second")], client=("127.0.0.1", 50001))
    for p in b:
        p.time += 0.5
    conns = split_connections(segments_from_packets(b[::-1] + a[::-1]))
    assert [c.client for c in conns] == [CLIENT, ("127.0.0.1", 50001)]
    assert all(c.server == SERVER for c in conns)
    assert conns[0].upstream.data == b"GET" and conns[0].downstream.data == b"OK"
    assert conns[1].upstream.data == b"second"


def test_port_reuse_with_a_new_syn_starts_a_new_connection():
    a = conversation([(">", b"one")], client_isn=100)
    b = conversation([(">", b"two")], client_isn=900_000)
    for p in b:
        p.time += 1
    conns = split_connections(segments_from_packets(a + b))
    assert [c.upstream.data for c in conns] == [b"one", b"two"]


def test_without_a_handshake_the_given_server_port_decides_the_roles():
    pkts = conversation([(">", b"req"), ("<", b"resp")])[3:]
    (conn,) = split_connections(segments_from_packets(pkts), server_port=SERVER[1])
    assert conn.server == SERVER and conn.upstream.data == b"req"
