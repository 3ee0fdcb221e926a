"""protocols.websocket.frames against RFC 6455 §5 and §7.4, and the websockets library.

Every byte string is fed whole, one byte at a time and in random splits; frames no
polite client sends are written by hand.
"""

from __future__ import annotations

import os
import random
import struct
import time

import pytest

from protocols.errors import WebSocketError
from protocols.websocket.frames import (
    END_OF_STREAM,
    NEED_DATA,
    Close,
    FrameParser,
    Message,
    Opcode,
    Ping,
    Pong,
    apply_mask,
    encode_binary,
    encode_close,
    encode_frame,
    encode_ping,
    encode_pong,
    encode_text,
    is_valid_close_code,
)

MASK = b"\x37\xfa\x21\x3d"  # the masking key of RFC 6455 §5.7's examples
SPLITS = ["whole", "bytewise", "random1", "random2"]


def chunks(data: bytes, how: str) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "bytewise":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(how)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, max(1, len(data) // 5))
        out.append(data[i : i + n])
        i += n
    return out


def drain(parser: FrameParser) -> list[object]:
    events = []
    while (event := parser.next_event()) not in (NEED_DATA, END_OF_STREAM):
        events.append(event)
    return events


def parse(data: bytes, how: str = "whole", *, client_side: bool = False, **kwargs: int) -> list[object]:
    parser = FrameParser(client_side=client_side, **kwargs)
    events: list[object] = []
    for chunk in chunks(data, how):
        parser.receive_data(chunk)
        events += drain(parser)
    parser.receive_data(b"")
    events += drain(parser)
    assert parser.next_event() is END_OF_STREAM
    return events


def parse_all_ways(data: bytes, *, client_side: bool = False, **kwargs: int) -> list[object]:
    how_many = SPLITS if len(data) < 70_000 else ["whole", "random1"]
    results = [parse(data, how, client_side=client_side, **kwargs) for how in how_many]
    for how, result in zip(how_many, results):
        assert result == results[0], f"{how} split differs from whole"
    return results[0]


def fails_with(code: int, data: bytes, *, client_side: bool = False, **kwargs: int) -> None:
    """Every split of ``data`` raises WebSocketError(code) by the time it is all fed."""
    for how in SPLITS:
        parser = FrameParser(client_side=client_side, **kwargs)
        with pytest.raises(WebSocketError) as info:
            for chunk in chunks(data, how):
                parser.receive_data(chunk)
                drain(parser)
        assert info.value.close_code == code, (how, info.value)


def frame(first: int, payload: bytes = b"", *, mask: bytes | None = MASK, length: bytes | None = None) -> bytes:
    """A hand-made frame: ``first`` is the FIN/RSV/opcode byte, anything goes."""
    mask_bit = 0x80 if mask is not None else 0
    if length is None:
        header = encode_frame(Opcode.BINARY, payload)[1:-len(payload) or None]
        header = bytes([header[0] | mask_bit]) + header[1:]
    else:
        header = bytes([mask_bit | {2: 126, 8: 127}[len(length)]]) + length
    body = payload if mask is None else mask + apply_mask(payload, mask)
    return bytes([first]) + header + body


FIN = 0x80
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


# --- RFC 6455 §5.7 examples ----------------------------------------------------------

HELLO_UNMASKED = bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
HELLO_MASKED = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])


def test_single_frame_unmasked_text__rfc6455_5_7() -> None:
    assert encode_text("Hello") == HELLO_UNMASKED
    assert parse_all_ways(HELLO_UNMASKED, client_side=True) == [Message(Opcode.TEXT, "Hello")]


def test_single_frame_masked_text__rfc6455_5_7() -> None:
    assert encode_text("Hello", mask=MASK) == HELLO_MASKED
    assert parse_all_ways(HELLO_MASKED) == [Message(Opcode.TEXT, "Hello")]


def test_fragmented_unmasked_text__rfc6455_5_7() -> None:
    data = bytes([0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F])
    assert encode_frame(Opcode.TEXT, b"Hel", fin=False) + encode_frame(Opcode.CONTINUATION, b"lo") == data
    assert parse_all_ways(data, client_side=True) == [Message(Opcode.TEXT, "Hello")]


def test_unmasked_ping_and_masked_pong__rfc6455_5_7() -> None:
    ping = bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    pong = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert encode_ping(b"Hello") == ping
    assert encode_pong(b"Hello", mask=MASK) == pong
    assert parse_all_ways(ping, client_side=True) == [Ping(b"Hello")]
    assert parse_all_ways(pong) == [Pong(b"Hello")]


def test_256_bytes_binary_uses_16_bit_length__rfc6455_5_7() -> None:
    payload = os.urandom(256)
    data = encode_binary(payload)
    assert data[:4] == bytes([0x82, 0x7E, 0x01, 0x00])
    assert parse_all_ways(data, client_side=True) == [Message(Opcode.BINARY, payload)]


def test_64_kib_binary_uses_64_bit_length__rfc6455_5_7() -> None:
    payload = os.urandom(65536)
    data = encode_binary(payload)
    assert data[:10] == bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    assert parse_all_ways(data, client_side=True) == [Message(Opcode.BINARY, payload)]


# --- Lengths (§5.2) -------------------------------------------------------------------


@pytest.mark.parametrize(("size", "header_len"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_length_boundaries_round_trip__rfc6455_5_2(size: int, header_len: int) -> None:
    payload = os.urandom(size)
    data = encode_binary(payload, mask=MASK)
    assert len(data) == header_len + 4 + size
    assert parse_all_ways(data) == [Message(Opcode.BINARY, payload)]


def test_one_mib_text_round_trips__rfc6455_5_2() -> None:
    text = "\u00e9\u20ac" * (1 << 18)
    assert parse_all_ways(encode_text(text, mask=MASK)) == [Message(Opcode.TEXT, text)]


def test_non_minimal_16_bit_length_is_1002__rfc6455_5_2() -> None:
    fails_with(1002, frame(FIN | BINARY, b"hello", length=struct.pack("!H", 5)))


def test_non_minimal_64_bit_length_is_1002__rfc6455_5_2() -> None:
    fails_with(1002, frame(FIN | BINARY, b"x" * 200, length=struct.pack("!Q", 200)))


def test_64_bit_length_with_high_bit_set_is_1002__rfc6455_5_2() -> None:
    fails_with(1002, frame(FIN | BINARY, b"", length=struct.pack("!Q", 1 << 63)))


# --- Masking (§5.1, §5.3) --------------------------------------------------------------


def test_unmasked_client_frame_is_1002__rfc6455_5_1() -> None:
    fails_with(1002, frame(FIN | TEXT, b"hi", mask=None))


def test_masked_server_frame_is_1002_for_a_client__rfc6455_5_1() -> None:
    fails_with(1002, frame(FIN | TEXT, b"hi"), client_side=True)


def test_apply_mask_matches_the_definition__rfc6455_5_3() -> None:
    data = os.urandom(1001)
    for offset in range(5):
        expected = bytes(b ^ MASK[(i + offset) % 4] for i, b in enumerate(data))
        assert apply_mask(data, MASK, offset) == expected
    assert apply_mask(b"", MASK) == b""
    assert apply_mask(apply_mask(data, MASK), MASK) == data


def test_unmasking_one_mib_takes_milliseconds_not_a_python_loop__rfc6455_5_3() -> None:
    data = os.urandom(1 << 20)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        apply_mask(data, MASK)
        best = min(best, time.perf_counter() - start)
    # ~1-3 ms here; a per-byte Python loop takes ~100 ms.
    assert best < 0.03


# --- Control frames (§5.5) ------------------------------------------------------------


def test_ping_of_126_bytes_is_1002_before_its_payload_arrives__rfc6455_5_5() -> None:
    data = frame(FIN | PING, b"x" * 126)
    fails_with(1002, data)
    parser = FrameParser()
    parser.receive_data(data[:2])
    with pytest.raises(WebSocketError) as info:
        parser.next_event()
    assert info.value.close_code == 1002


@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
def test_fragmented_control_frame_is_1002__rfc6455_5_5(opcode: int) -> None:
    fails_with(1002, frame(opcode, b""))


def test_control_frame_of_125_bytes_is_fine__rfc6455_5_5() -> None:
    assert parse_all_ways(frame(FIN | PING, b"p" * 125)) == [Ping(b"p" * 125)]


def test_control_frames_may_be_interleaved_between_fragments__rfc6455_5_4() -> None:
    data = (
        frame(TEXT, b"one ")
        + frame(FIN | PING, b"are you there")
        + frame(CONT, b"two ")
        + frame(FIN | PONG, b"")
        + frame(FIN | CONT, b"three")
    )
    assert parse_all_ways(data) == [Ping(b"are you there"), Pong(b""), Message(Opcode.TEXT, "one two three")]


def test_fragments_may_be_empty__rfc6455_5_4() -> None:
    data = frame(BINARY, b"") + frame(CONT, b"") + frame(FIN | CONT, b"")
    assert parse_all_ways(data) == [Message(Opcode.BINARY, b"")]


# --- Reserved bits and opcodes (§5.2) --------------------------------------------------


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_rsv_bits_without_extension_are_1002__rfc6455_5_2(rsv: int) -> None:
    fails_with(1002, frame(FIN | rsv | TEXT, b"hi"))


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode_is_1002__rfc6455_5_2(opcode: int) -> None:
    fails_with(1002, frame(FIN | opcode, b""))


# --- Fragmentation order (§5.4) --------------------------------------------------------


def test_orphan_continuation_is_1002__rfc6455_5_4() -> None:
    fails_with(1002, frame(FIN | CONT, b"orphan"))


def test_continuation_after_a_finished_message_is_1002__rfc6455_5_4() -> None:
    fails_with(1002, frame(FIN | TEXT, b"done") + frame(FIN | CONT, b"late"))


def test_new_data_frame_inside_a_fragmented_message_is_1002__rfc6455_5_4() -> None:
    fails_with(1002, frame(TEXT, b"first") + frame(FIN | BINARY, b"second"))


# --- Close frames (§5.5.1, §7.4) --------------------------------------------------------


def test_close_without_body_reads_as_1005__rfc6455_7_1_5() -> None:
    assert parse_all_ways(frame(FIN | CLOSE, b"")) == [Close(1005, "")]


def test_close_with_code_and_reason__rfc6455_5_5_1() -> None:
    body = struct.pack("!H", 1001) + "au revoir \u00e9".encode()
    assert parse_all_ways(frame(FIN | CLOSE, body)) == [Close(1001, "au revoir \u00e9")]
    assert encode_close(1001, "au revoir \u00e9") == frame(FIN | CLOSE, body, mask=None)


def test_close_body_of_one_byte_is_1002__rfc6455_5_5_1() -> None:
    fails_with(1002, frame(FIN | CLOSE, b"\x03"))


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_invalid_close_code_is_1002__rfc6455_7_4_1(code: int) -> None:
    fails_with(1002, frame(FIN | CLOSE, struct.pack("!H", code)))


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_code_is_accepted__rfc6455_7_4_1(code: int) -> None:
    assert is_valid_close_code(code)
    assert parse_all_ways(frame(FIN | CLOSE, struct.pack("!H", code))) == [Close(code, "")]


def test_close_reason_with_invalid_utf8_is_1007__rfc6455_5_5_1() -> None:
    fails_with(1007, frame(FIN | CLOSE, struct.pack("!H", 1000) + b"\xce\xba\xff"))


def test_encode_close_refuses_codes_that_may_not_be_sent__rfc6455_7_4_1() -> None:
    for code in (1005, 1006, 1015, 999, 2000, 5000):
        with pytest.raises(ValueError):
            encode_close(code)
    with pytest.raises(ValueError):
        encode_close(1000, "x" * 124)
    assert encode_close(1000, "x" * 123)[1] == 125
    assert encode_close(None) == b"\x88\x00"


# --- UTF-8 (§5.6, §8.1) ------------------------------------------------------------------

KAPPA = "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()  # Autobahn 6.x's valid prefix


def test_invalid_utf8_in_text_frame_is_1007__rfc6455_8_1() -> None:
    fails_with(1007, frame(FIN | TEXT, b"ok\xffok"))


def test_invalid_utf8_split_across_fragments_is_1007__rfc6455_8_1() -> None:
    # U+D800 (a surrogate) as ED A0 80, with ED in one fragment and A0 80 in the next.
    fails_with(1007, frame(TEXT, KAPPA + b"\xed") + frame(FIN | CONT, b"\xa0\x80"))


def test_multibyte_character_split_across_fragments_is_fine__rfc6455_5_6() -> None:
    euro = "\u20ac".encode()
    data = frame(TEXT, euro[:1]) + frame(CONT, euro[1:2]) + frame(FIN | CONT, euro[2:])
    assert parse_all_ways(data) == [Message(Opcode.TEXT, "\u20ac")]


def test_truncated_utf8_at_end_of_message_is_1007__rfc6455_8_1() -> None:
    fails_with(1007, frame(TEXT, b"a\xe2\x82") + frame(FIN | CONT, b""))


@pytest.mark.parametrize("bad_tail", [b"\xf4\x90", b"\xed\xa0", b"\xc0", b"\xe0\x80", b"\xf5"])
def test_invalid_utf8_fails_before_the_message_ends__rfc6455_8_1(bad_tail: bytes) -> None:
    # The first fragment's last bytes can start no valid character: fail right there,
    # without waiting for the continuation (Autobahn 6.4.x, "fail fast").
    parser = FrameParser()
    parser.receive_data(frame(TEXT, KAPPA + bad_tail))
    with pytest.raises(WebSocketError) as info:
        parser.next_event()
    assert info.value.close_code == 1007


def test_invalid_utf8_fails_before_the_frame_ends__rfc6455_8_1() -> None:
    payload = KAPPA + b"\xf4\x90\x80\x80" + b"x" * 1000
    data = frame(FIN | TEXT, payload)
    header = len(data) - len(payload)  # 2 + 2 (16-bit length) + 4 (mask)
    parser = FrameParser()
    parser.receive_data(data[: header + len(KAPPA) + 2])  # then the bad prefix only
    with pytest.raises(WebSocketError) as info:
        parser.next_event()
    assert info.value.close_code == 1007


def test_binary_message_is_not_utf8_checked__rfc6455_5_6() -> None:
    assert parse_all_ways(frame(FIN | BINARY, b"\xff\xed\xa0")) == [Message(Opcode.BINARY, b"\xff\xed\xa0")]


# --- Size limit (§10.4, 1009) -----------------------------------------------------------


def test_message_over_the_limit_is_1009_on_its_header_alone__rfc6455_10_4() -> None:
    data = encode_binary(b"x" * 1001, mask=MASK)
    parser = FrameParser(max_message=1000)
    parser.receive_data(data[:4])  # 2 bytes + the 16-bit length: no mask, no payload
    with pytest.raises(WebSocketError) as info:
        parser.next_event()
    assert info.value.close_code == 1009


def test_huge_declared_length_is_refused_without_buffering__rfc6455_10_4() -> None:
    fails_with(1009, frame(FIN | BINARY, b"", length=struct.pack("!Q", 1 << 40)))


def test_fragmented_message_over_the_limit_is_1009__rfc6455_10_4() -> None:
    data = frame(TEXT, b"a" * 600) + frame(FIN | CONT, b"b" * 600)
    fails_with(1009, data, max_message=1000)


def test_message_exactly_at_the_limit_is_fine__rfc6455_10_4() -> None:
    data = frame(TEXT, b"a" * 600) + frame(FIN | PING, b"p" * 100) + frame(FIN | CONT, b"b" * 400)
    assert parse_all_ways(data, max_message=1000) == [Ping(b"p" * 100), Message(Opcode.TEXT, "a" * 600 + "b" * 400)]


# --- End of stream ------------------------------------------------------------------------


def test_eof_mid_frame_is_1006__rfc6455_7_1_5() -> None:
    parser = FrameParser()
    parser.receive_data(HELLO_MASKED[:5])
    parser.receive_data(b"")
    with pytest.raises(WebSocketError) as info:
        parser.next_event()
    assert info.value.close_code == 1006


def test_eof_mid_fragmented_message_is_1006__rfc6455_7_1_5() -> None:
    parser = FrameParser()
    parser.receive_data(frame(TEXT, b"part"))
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"")
    with pytest.raises(WebSocketError) as info:
        parser.next_event()
    assert info.value.close_code == 1006


def test_eof_between_frames_is_end_of_stream() -> None:
    parser = FrameParser()
    parser.receive_data(HELLO_MASKED)
    parser.receive_data(b"")
    assert parser.next_event() == Message(Opcode.TEXT, "Hello")
    assert parser.next_event() is END_OF_STREAM


def test_a_failed_parser_stays_failed() -> None:
    parser = FrameParser()
    parser.receive_data(frame(FIN | CONT, b"orphan"))
    with pytest.raises(WebSocketError):
        parser.next_event()
    parser.receive_data(HELLO_MASKED)
    with pytest.raises(WebSocketError) as info:
        parser.next_event()
    assert info.value.close_code == 1002


# --- Writers ---------------------------------------------------------------------------


def test_encode_frame_refuses_bad_control_frames_and_masks__rfc6455_5_5() -> None:
    with pytest.raises(ValueError):
        encode_ping(b"x" * 126)
    with pytest.raises(ValueError):
        encode_frame(Opcode.PING, b"", fin=False)
    with pytest.raises(ValueError):
        encode_text("x", mask=b"abc")
    with pytest.raises(ValueError):
        encode_frame(3, b"")


def test_message_event_checks_its_data_type() -> None:
    with pytest.raises(TypeError):
        Message(Opcode.TEXT, b"bytes")
    with pytest.raises(TypeError):
        Message(Opcode.PING, b"")


def test_random_streams_round_trip_in_any_split__rfc6455_5_4() -> None:
    rng = random.Random(6455)
    stream, expected = b"", []
    for _ in range(60):
        text = rng.random() < 0.5
        size = rng.choice([0, 1, 5, 125, 126, 300, 70000])
        if text:
            data: str | bytes = "".join(rng.choice("a\u00e9\u20ac\U0001f600") for _ in range(size // 3))
            raw = data.encode()
        else:
            data = raw = rng.randbytes(size)
        cuts = sorted(rng.randint(0, len(raw)) for _ in range(rng.randint(0, 3)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]
        for i, piece in enumerate(pieces):
            opcode = (TEXT if text else BINARY) if i == 0 else CONT
            fin = FIN if i == len(pieces) - 1 else 0
            stream += frame(fin | opcode, piece, mask=rng.randbytes(4))
            if fin:
                expected.append(Message(Opcode.TEXT if text else Opcode.BINARY, data))
            if rng.random() < 0.3:
                stream += frame(FIN | PING, b"mid")
                expected.append(Ping(b"mid"))
    assert parse(stream) == expected
    assert parse(stream, "random3") == expected


# --- The websockets library, both directions -------------------------------------------

SIZES = [0, 125, 126, 65535, 65536, 1 << 20]


def _websockets(side: str, **kwargs: object):  # type: ignore[no-untyped-def]
    from websockets.protocol import Protocol, Side

    return Protocol(Side.SERVER if side == "server" else Side.CLIENT, max_size=None, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", SIZES)
def test_websockets_client_reads_our_server_frames(size: int) -> None:
    client = _websockets("client")
    text = "x" * size
    blob = os.urandom(size)
    client.receive_data(encode_text(text) + encode_binary(blob) + encode_ping(b"p") + encode_close(1000, "bye"))
    frames = client.events_received()
    assert [(f.opcode.name, bytes(f.data)) for f in frames[:3]] == [
        ("TEXT", text.encode()), ("BINARY", blob), ("PING", b"p"),
    ]
    # It read our Close and echoed it; on a framing error it would send 1002 instead.
    assert (client.close_rcvd.code, client.close_rcvd.reason) == (1000, "bye")
    assert client.close_sent.code == 1000


@pytest.mark.parametrize("size", SIZES)
def test_we_read_websockets_client_frames(size: int) -> None:
    client = _websockets("client")
    text = "\u00e9" * (size // 2)
    blob = os.urandom(size)
    client.send_text(text.encode())
    client.send_binary(blob)
    client.send_ping(b"ping")
    client.send_close(1000, "done")
    wire = b"".join(client.data_to_send())
    assert parse_all_ways(wire) == [
        Message(Opcode.TEXT, text), Message(Opcode.BINARY, blob), Ping(b"ping"), Close(1000, "done"),
    ]


def test_we_read_websockets_fragmented_messages__rfc6455_5_4() -> None:
    client = _websockets("client")
    client.send_text("\u20ac".encode()[:1], fin=False)
    client.send_ping(b"between")
    client.send_continuation("\u20ac".encode()[1:], fin=False)
    client.send_continuation(b"!", fin=True)
    wire = b"".join(client.data_to_send())
    assert parse_all_ways(wire) == [Ping(b"between"), Message(Opcode.TEXT, "\u20ac!")]


def test_websockets_server_reads_our_masked_client_frames() -> None:
    server = _websockets("server")
    mask = os.urandom(4)
    server.receive_data(
        encode_frame(Opcode.TEXT, b"he", fin=False, mask=mask)
        + encode_ping(b"x", mask=os.urandom(4))
        + encode_frame(Opcode.CONTINUATION, b"llo", mask=os.urandom(4))
        + encode_binary(os.urandom(70000), mask=os.urandom(4))
    )
    frames = server.events_received()
    assert [(f.opcode.name, f.fin) for f in frames] == [
        ("TEXT", False), ("PING", True), ("CONT", True), ("BINARY", True),
    ]
    assert bytes(frames[0].data) + bytes(frames[2].data) == b"hello"
    assert server.close_sent is None  # it found no protocol error to close for


def test_we_read_websockets_server_frames_as_a_client() -> None:
    server = _websockets("server")
    server.send_text("hello \u00e9".encode())
    server.send_binary(bytes(70000))
    server.send_close(1001, "going")
    wire = b"".join(server.data_to_send())
    assert parse_all_ways(wire, client_side=True) == [
        Message(Opcode.TEXT, "hello \u00e9"), Message(Opcode.BINARY, bytes(70000)), Close(1001, "going"),
    ]
