"""protocols.websocket.handshake against RFC 6455 §1.3, §4 and the websockets library."""

from __future__ import annotations

import base64

import pytest

from protocols.errors import HTTPError, WebSocketError
from protocols.websocket.handshake import (
    accept_key,
    check_server_response,
    client_handshake_request,
    server_handshake,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # §1.3 and §4.2.2's example nonce
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

Headers = list[tuple[bytes, bytes]]


def request_headers(**changes: bytes | None) -> Headers:
    """The handshake of RFC 6455 §1.2; ``changes`` replace (or with None, drop) a header."""
    headers = {
        "Host": b"server.example.com",
        "Upgrade": b"websocket",
        "Connection": b"Upgrade",
        "Sec-WebSocket-Key": RFC_KEY.encode(),
        "Origin": b"http://example.com",
        "Sec-WebSocket-Version": b"13",
    }
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return [(name.encode(), value) for name, value in headers.items()]


def refused(method: bytes, headers: Headers) -> HTTPError:
    with pytest.raises(HTTPError) as info:
        server_handshake(method, headers)
    return info.value


# --- Accept key (§1.3) ------------------------------------------------------------------


def test_accept_key_of_the_rfc_example__rfc6455_1_3() -> None:
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    assert accept_key(RFC_KEY.encode()) == RFC_ACCEPT


# --- Server side (§4.2) -------------------------------------------------------------------


def test_valid_handshake_gets_the_101_headers__rfc6455_4_2_2() -> None:
    assert server_handshake(b"GET", request_headers()) == [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Accept", RFC_ACCEPT.encode()),
    ]


def test_header_names_and_tokens_are_case_insensitive__rfc6455_4_2_1() -> None:
    headers = [(name.upper(), value) for name, value in request_headers(Upgrade=b"WebSocket", Connection=b"UPGRADE")]
    assert server_handshake(b"GET", headers)[2] == (b"Sec-WebSocket-Accept", RFC_ACCEPT.encode())


def test_connection_upgrade_may_be_one_token_of_a_list__rfc6455_4_2_1() -> None:
    assert server_handshake(b"GET", request_headers(Connection=b"keep-alive, Upgrade"))
    assert server_handshake(b"GET", request_headers(Connection=b"keep-alive,upgrade"))


def test_connection_tokens_may_be_spread_over_several_headers__rfc6455_4_2_1() -> None:
    headers = request_headers(Connection=b"keep-alive") + [(b"connection", b"Upgrade")]
    assert server_handshake(b"GET", headers)


@pytest.mark.parametrize("method", [b"POST", b"HEAD", b"PUT", b"get"])
def test_non_get_request_is_400__rfc6455_4_2_1(method: bytes) -> None:
    assert refused(method, request_headers()).status == 400


@pytest.mark.parametrize("upgrade", [None, b"h2c", b"websockets", b"web socket"])
def test_missing_upgrade_websocket_is_400__rfc6455_4_2_1(upgrade: bytes | None) -> None:
    assert refused(b"GET", request_headers(Upgrade=upgrade)).status == 400


@pytest.mark.parametrize("connection", [None, b"keep-alive", b"upgrades", b"close"])
def test_missing_connection_upgrade_is_400__rfc6455_4_2_1(connection: bytes | None) -> None:
    assert refused(b"GET", request_headers(Connection=connection)).status == 400


@pytest.mark.parametrize("version", [b"8", b"12", b"14", b"13, 8", b"", None])
def test_other_version_is_426_naming_version_13__rfc6455_4_4(version: bytes | None) -> None:
    error = refused(b"GET", request_headers(Sec_WebSocket_Version=version))
    assert error.status == 426
    assert error.headers == [(b"Sec-WebSocket-Version", b"13")]


def test_missing_key_is_400__rfc6455_4_2_1() -> None:
    assert refused(b"GET", request_headers(Sec_WebSocket_Key=None)).status == 400


@pytest.mark.parametrize(
    "key",
    [
        b"",
        b"not base64 at all!!",
        base64.b64encode(bytes(15)),
        base64.b64encode(bytes(17)),
        RFC_KEY.rstrip("=").encode(),  # padding is part of base64
        b"dGhlIHNhbXBsZSBub25jZQ==x",
        b"dGhl IHNhbXBsZSBub25jZQ==",
    ],
)
def test_malformed_key_is_400__rfc6455_4_2_1(key: bytes) -> None:
    assert refused(b"GET", request_headers(Sec_WebSocket_Key=key)).status == 400


def test_duplicate_key_is_400__rfc6455_11_3_1() -> None:
    headers = request_headers() + [(b"Sec-WebSocket-Key", base64.b64encode(bytes(16)))]
    assert refused(b"GET", headers).status == 400


def test_errors_carry_no_extra_headers_except_426() -> None:
    assert refused(b"POST", request_headers()).headers == []


# --- Client side (§4.1) ----------------------------------------------------------------


def test_client_request_is_a_valid_handshake__rfc6455_4_1() -> None:
    request, key = client_handshake_request("example.com:8080", "/topics/t/ws?x=1")
    head, _, rest = request.partition(b"\r\n\r\n")
    assert rest == b""
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET /topics/t/ws?x=1 HTTP/1.1"
    headers = [tuple(line.split(b": ", 1)) for line in lines[1:]]
    assert (b"Host", b"example.com:8080") in headers
    assert len(base64.b64decode(key, validate=True)) == 16
    assert server_handshake(b"GET", headers)[2] == (b"Sec-WebSocket-Accept", accept_key(key).encode())  # type: ignore[arg-type]


def test_client_key_is_fresh_for_each_connection__rfc6455_4_1() -> None:
    keys = {client_handshake_request("h", "/")[1] for _ in range(20)}
    assert len(keys) == 20
    assert client_handshake_request("h", "/", RFC_KEY)[1] == RFC_KEY


@pytest.mark.parametrize(("host", "path"), [("h", "no-slash"), ("h\r\nX: y", "/"), ("h", "/a b"), ("", "/")])
def test_client_request_refuses_injection(host: str, path: str) -> None:
    with pytest.raises(ValueError):
        client_handshake_request(host, path)


def good_response(key: str = RFC_KEY) -> Headers:
    return [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade"), (b"Sec-WebSocket-Accept", accept_key(key).encode())]


def test_client_accepts_a_correct_response__rfc6455_4_1() -> None:
    check_server_response(101, good_response(), RFC_KEY)
    check_server_response(101, [(n.lower(), v.upper() if n == b"Upgrade" else v) for n, v in good_response()], RFC_KEY)


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, good_response()),
        (101, good_response()[1:]),
        (101, good_response()[:1] + good_response()[2:]),
        (101, good_response()[:2]),
        (101, good_response(base64.b64encode(bytes(16)).decode())),
        (101, good_response() + [(b"Sec-WebSocket-Extensions", b"permessage-deflate")]),
        (101, good_response() + [(b"Sec-WebSocket-Protocol", b"chat")]),
    ],
)
def test_client_fails_a_wrong_response__rfc6455_4_1(status: int, headers: Headers) -> None:
    with pytest.raises(WebSocketError) as info:
        check_server_response(status, headers, RFC_KEY)
    assert info.value.close_code == 1002


# --- The websockets library on the other end ------------------------------------------


def test_websockets_client_accepts_our_server_handshake__rfc6455_4() -> None:
    import h11
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://example.com/topics/t/ws"))
    client.send_request(client.connect())
    wire = b"".join(client.data_to_send())

    http = h11.Connection(h11.SERVER)
    http.receive_data(wire)
    request = http.next_event()
    assert isinstance(request, h11.Request)
    headers = server_handshake(request.method, list(request.headers.raw_items()))

    response = b"HTTP/1.1 101 Switching Protocols\r\n" + b"".join(
        name + b": " + value + b"\r\n" for name, value in headers
    ) + b"\r\n"
    client.receive_data(response)
    assert client.handshake_exc is None
    assert client.state is State.OPEN


def test_our_client_handshake_is_accepted_by_websockets_server__rfc6455_4() -> None:
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    request, key = client_handshake_request("example.com", "/chat")
    server = ServerProtocol()
    server.receive_data(request)
    [parsed] = server.events_received()
    response = server.accept(parsed)
    server.send_response(response)
    assert server.state is State.OPEN
    headers = [(name.encode(), value.encode()) for name, value in response.headers.raw_items()]
    check_server_response(response.status_code, headers, key)
    with pytest.raises(WebSocketError):
        check_server_response(response.status_code, headers, RFC_KEY)
