"""protocols.websocket.connection: automatic Pong and Close, the closing handshake (RFC 6455 §5.5, §7)."""

from __future__ import annotations

import os

import pytest

from protocols.errors import WebSocketError
from protocols.websocket.connection import (
    TRANSITIONS,
    InvalidStateError,
    State,
    Trigger,
    WebSocketConnection,
    describe,
)
from protocols.websocket.frames import (
    END_OF_STREAM,
    NEED_DATA,
    Close,
    FrameParser,
    Message,
    Opcode,
    Ping,
    Pong,
    encode_close,
    encode_frame,
    encode_ping,
    encode_text,
)

MASK = b"\x37\xfa\x21\x3d"


def events(conn: WebSocketConnection) -> list[object]:
    out = []
    while (event := conn.next_event()) not in (NEED_DATA, END_OF_STREAM):
        out.append(event)
    return out


def read_as_client(data: bytes) -> list[object]:
    """What a client parses out of the bytes our server connection sent."""
    parser = FrameParser(client_side=True)
    parser.receive_data(data)
    out = []
    while (event := parser.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def test_ping_is_answered_with_a_pong_of_the_same_payload__rfc6455_5_5_2() -> None:
    conn = WebSocketConnection()
    conn.receive_data(encode_ping(b"are you there?", mask=MASK))
    assert events(conn) == [Ping(b"are you there?")]
    assert read_as_client(conn.data_to_send()) == [Pong(b"are you there?")]
    assert conn.data_to_send() == b""  # drained


def test_auto_pong_can_be_turned_off() -> None:
    conn = WebSocketConnection(auto_pong=False)
    conn.receive_data(encode_ping(b"x", mask=MASK))
    assert events(conn) == [Ping(b"x")]
    assert conn.data_to_send() == b""


def test_received_close_is_echoed_and_the_connection_closes__rfc6455_5_5_1() -> None:
    conn = WebSocketConnection()
    conn.receive_data(encode_text("last words", mask=MASK) + encode_close(1001, "bye", mask=MASK))
    assert events(conn) == [Message(Opcode.TEXT, "last words"), Close(1001, "bye")]
    assert read_as_client(conn.data_to_send()) == [Close(1001, "")]
    assert conn.state is State.CLOSED
    assert (conn.close_code, conn.close_reason) == (1001, "bye")


def test_close_without_code_is_echoed_without_code__rfc6455_7_4_1() -> None:
    conn = WebSocketConnection()
    conn.receive_data(encode_close(None, mask=MASK))
    assert events(conn) == [Close(1005, "")]
    # 1005 "MUST NOT be set as a status code in a Close control frame".
    assert conn.data_to_send() == b"\x88\x00"


def test_nothing_is_sent_after_our_close__rfc6455_5_5_1() -> None:
    conn = WebSocketConnection()
    assert read_as_client(conn.send_close(1000, "done")) == [Close(1000, "done")]
    assert conn.state is State.CLOSING
    for send in (lambda: conn.send_text("x"), lambda: conn.send_binary(b"x"), lambda: conn.send_ping(),
                 lambda: conn.send_pong(), lambda: conn.send_close()):
        with pytest.raises(InvalidStateError):
            send()
    # The peer may still send data and pings before its Close: we read them, answer none.
    conn.receive_data(encode_text("late", mask=MASK) + encode_ping(b"p", mask=MASK) + encode_close(1000, mask=MASK))
    assert events(conn) == [Message(Opcode.TEXT, "late"), Ping(b"p"), Close(1000, "")]
    assert conn.data_to_send() == b""
    assert conn.state is State.CLOSED
    assert conn.next_event() is END_OF_STREAM


def test_protocol_error_sends_close_with_its_code_then_stops__rfc6455_7_1_7() -> None:
    conn = WebSocketConnection()
    conn.receive_data(encode_frame(Opcode.TEXT, b"unmasked") + encode_text("never read", mask=MASK))
    with pytest.raises(WebSocketError) as info:
        conn.next_event()
    assert info.value.close_code == 1002
    [close] = read_as_client(conn.data_to_send())
    assert isinstance(close, Close) and close.code == 1002
    assert conn.state is State.CLOSED and conn.close_code == 1002
    assert conn.next_event() is END_OF_STREAM  # "MUST NOT continue to attempt to process data"


def test_invalid_utf8_fails_with_1007__rfc6455_8_1() -> None:
    conn = WebSocketConnection()
    conn.receive_data(encode_frame(Opcode.TEXT, b"\xff", mask=MASK))
    with pytest.raises(WebSocketError):
        conn.next_event()
    assert read_as_client(conn.data_to_send()) == [Close(1007, "invalid UTF-8 in text message: invalid start byte")]


def test_protocol_error_after_our_close_sends_no_second_close__rfc6455_5_5_1() -> None:
    conn = WebSocketConnection()
    conn.send_close()
    conn.receive_data(bytes([0x81 | 0x40, 0x80]) + MASK)  # RSV1 set
    with pytest.raises(WebSocketError):
        conn.next_event()
    assert conn.data_to_send() == b""
    assert conn.state is State.CLOSED


def test_eof_without_close_is_1006_and_nothing_is_sent__rfc6455_7_1_5() -> None:
    conn = WebSocketConnection()
    conn.receive_data(encode_text("hi", mask=MASK))
    conn.receive_data(b"")
    assert conn.next_event() == Message(Opcode.TEXT, "hi")
    assert conn.next_event() is END_OF_STREAM
    assert conn.state is State.CLOSED and conn.close_code == 1006
    assert conn.data_to_send() == b""


def test_eof_mid_frame_raises_1006_and_sends_no_close__rfc6455_7_4_1() -> None:
    conn = WebSocketConnection()
    conn.receive_data(encode_text("hello", mask=MASK)[:4])
    conn.receive_data(b"")
    with pytest.raises(WebSocketError) as info:
        conn.next_event()
    assert info.value.close_code == 1006
    assert conn.data_to_send() == b""  # 1006 is never sent on the wire
    assert conn.state is State.CLOSED


def test_client_side_masks_every_frame_with_a_fresh_key__rfc6455_5_3() -> None:
    conn = WebSocketConnection(client_side=True)
    a, b = conn.send_text("same"), conn.send_text("same")
    assert a[1] & 0x80 and b[1] & 0x80
    assert a[2:6] != b[2:6]
    server = FrameParser()
    server.receive_data(a + conn.send_ping(b"p") + conn.send_close(1000))
    assert [server.next_event() for _ in range(3)] == [Message(Opcode.TEXT, "same"), Ping(b"p"), Close(1000, "")]


def test_client_side_pong_is_masked__rfc6455_5_3() -> None:
    conn = WebSocketConnection(client_side=True)
    conn.receive_data(encode_ping(b"hb"))
    assert events(conn) == [Ping(b"hb")]
    server = FrameParser()
    server.receive_data(conn.data_to_send())
    assert server.next_event() == Pong(b"hb")


def test_transition_table_is_complete_and_printable() -> None:
    assert TRANSITIONS[(State.OPEN, Trigger.SEND_CLOSE)] is State.CLOSING
    assert not any(src is State.CLOSED for src, _ in TRANSITIONS)
    assert (State.CLOSING, Trigger.SEND_CLOSE) not in TRANSITIONS
    assert "OPEN     --send_close--> CLOSING" in describe().splitlines()


# --- The closing handshake with the websockets library ---------------------------------


def test_websockets_client_closes_cleanly_with_us__rfc6455_7_1_2() -> None:
    from websockets.protocol import Protocol, Side, State as TheirState

    client = Protocol(Side.CLIENT)
    ours = WebSocketConnection()
    client.send_text(b"hello")
    client.send_ping(b"pp")
    client.send_close(1000, "bye")
    ours.receive_data(b"".join(client.data_to_send()))
    assert events(ours) == [Message(Opcode.TEXT, "hello"), Ping(b"pp"), Close(1000, "bye")]
    client.receive_data(ours.data_to_send())
    pong, close = client.events_received()
    assert (pong.opcode.name, bytes(pong.data)) == ("PONG", b"pp")
    assert client.state is TheirState.CLOSING and client.close_rcvd.code == 1000
    client.receive_eof()  # we close TCP first, as a server should (§7.1.1)
    assert client.state is TheirState.CLOSED
    assert client.close_code == 1000


def test_we_close_a_websockets_server_cleanly_as_a_client__rfc6455_7_1_2() -> None:
    from websockets.protocol import Protocol, Side

    server = Protocol(Side.SERVER)
    ours = WebSocketConnection(client_side=True)
    server.receive_data(ours.send_text("x" * 70000) + ours.send_close(1000, "done"))
    assert [f.opcode.name for f in server.events_received()] == ["TEXT", "CLOSE"]
    assert server.close_sent is not None and server.close_sent.code == 1000
    ours.receive_data(b"".join(server.data_to_send()))
    assert events(ours) == [Close(1000, "done")]
    assert ours.state is State.CLOSED


def test_websockets_fails_on_our_error_close_with_our_code() -> None:
    from websockets.protocol import Protocol, Side

    client = Protocol(Side.CLIENT)
    ours = WebSocketConnection()
    ours.receive_data(bytes([0x83, 0x80]) + os.urandom(4))  # reserved opcode 3
    with pytest.raises(WebSocketError):
        ours.next_event()
    client.receive_data(ours.data_to_send())
    assert client.close_rcvd is not None and client.close_rcvd.code == 1002
    with pytest.raises(InvalidStateError):
        ours.send_text("too late")
