"""Answers to questions about a packet capture, with scapy alone: exercise 12's reference.

This is the exercise's starter: the names, signatures and docstrings are the lab's;
each body raises NotImplementedError with a hint.

You may use scapy to read the file (`scapy.utils.rdpcap`, `IP`, `TCP`) and the
standard library; the reassembly and the reading of HTTP and WebSocket are yours (the
lab's tracer and scapy's sessions and HTTP layers are not allowed).

    handshake_rtt("session.pcap")              # 0.0123: SYN to SYN-ACK, seconds
    count_requests("session.pcap")             # 4: HTTP requests the clients sent
    first_response_status("session.pcap")      # 404
    bytes_from_client("session.pcap")          # 1234: client payload bytes, each once
    websocket_opcodes("session.pcap", "client")  # [1, 9, 8]

A capture lists segments in the order they were seen, which is not the order of the
bytes: a segment can be retransmitted (the same sequence numbers again) or overtaken
by a later one. So each direction of each connection is rebuilt by sequence number
(RFC 9293 §3.4): the byte at sequence number s sits at offset (s - ISN - 1) mod 2**32,
the first copy of a byte wins, and a copy that comes again adds nothing. Then the
questions are about streams, not packets: HTTP/1.1 heads (RFC 9112) and WebSocket
frame headers (RFC 6455 §5.2) are read from the rebuilt bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["handshake_rtt", "count_requests", "first_response_status", "bytes_from_client", "websocket_opcodes"]

SEQ_MOD = 2**32
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_UPGRADE = re.compile(rb"\r\nupgrade:[^\r\n]*websocket", re.I)


@dataclass
class Packet:
    time: float
    src: tuple
    dst: tuple
    flags: str
    seq: int
    ack: int
    payload: bytes


@dataclass
class Stream:
    """One direction, rebuilt: the contiguous bytes and when each byte first arrived."""

    data: bytes = b""
    arrived: list[float] = field(default_factory=list)


@dataclass
class Connection:
    client: tuple
    server: tuple
    packets: list[Packet]
    upstream: Stream
    downstream: Stream


def _packets(path: str) -> list[Packet]:
    raise NotImplementedError(
        "rdpcap; for each IP/TCP packet a Packet (payload cut to the IP total length), "
        "sorted by time"
    )


def _rebuild(packets: list[Packet]) -> Stream:
    """Bytes by sequence number; the first copy of each byte wins."""
    raise NotImplementedError(
        "place each payload byte at (seq - ISN - 1) mod 2**32; the first copy wins; keep "
        "the contiguous prefix and when each byte first arrived"
    )


def _connections(path: str) -> list[Connection]:
    raise NotImplementedError(
        "group packets by their two endpoints; the client sent the SYN; rebuild both "
        "directions"
    )


def _heads(data: bytes):
    """(start, end of head, body length) of each HTTP/1.1 message at the stream's start,
    until an upgrade to WebSocket or bytes that are not a complete head."""
    raise NotImplementedError(
        "yield (start, end of head, head) for each HTTP message: find the blank line, skip "
        "Content-Length bytes, stop after an upgrade"
    )


def handshake_rtt(pcap_path: str) -> float:
    """Seconds from the first SYN to the SYN-ACK that answers it."""
    raise NotImplementedError(
        "the SYN-ACK's time minus the first SYN's time (pkt.time), in seconds"
    )


def count_requests(pcap_path: str) -> int:
    """HTTP requests sent by the clients, over every connection."""
    raise NotImplementedError(
        "count the request heads in each client stream (rebuilt by sequence number, not "
        "capture order)"
    )


def first_response_status(pcap_path: str) -> int:
    """The status code of the response whose status line was complete first."""
    raise NotImplementedError(
        "per connection, the status line at the start of the server stream and when its "
        "last byte arrived; the earliest wins"
    )


def bytes_from_client(pcap_path: str) -> int:
    """Payload bytes from clients to servers, each sequence number counted once."""
    raise NotImplementedError(
        "the length of every client stream, rebuilt (a retransmitted byte counts once)"
    )


def websocket_opcodes(pcap_path: str, side: str = "client") -> list[int]:
    """Opcodes of the WebSocket frames ``side`` ("client" or "server") sent, in order."""
    raise NotImplementedError(
        "in the connection that upgraded: walk the frame headers after the request's "
        "(client) or the 101's (server) blank line"
    )


def _opcodes(data: bytes, pos: int) -> list[int]:
    raise NotImplementedError(
        "each frame: opcode = byte 0 & 0x0F; length 7/16/64 bits; skip the mask key if "
        "MASK; stop at an incomplete frame"
    )
