"""Check bodies for exercise 11-websocket-push (``GET /topics/{t}/ws``, RFC 6455).

Each check serves the whole lab on the student's ``websocket.py`` (``--io epoll``) and
talks to it with the lab's own minimal client, on a raw socket: the opening handshake
from ``protocols.websocket.handshake``, frames written by ``checks.websocket.frame``
(masked, or broken on purpose) and read by the lab's ``FrameParser(client_side=True)``,
which refuses anything RFC 6455 forbids a server to send. No WebSocket library is
involved: a library would hide the bytes, and could not send bad frames.

What is judged: each topic message arrives as one unmasked text frame
``{"offset": n, "data": "..."}`` soon after it is published; a client text frame is
published to the topic; a Ping gets its Pong; a Close gets a Close and then the server
closes TCP; a protocol violation gets Close 1002; a client that vanishes is
unsubscribed (``GET /stats``).
"""
from __future__ import annotations

import json
import socket
import time

from protocols.errors import WebSocketError
from protocols.websocket.frames import NEED_DATA, Close, FrameParser, Message, Pong
from protocols.websocket.handshake import accept_key, client_handshake_request

from .. import feedback
from .labserver import Scenario, ScenarioCheck
from .net import connect
from .websocket import describe_frames, frame

__all__ = ["CHECKS", "WsClient"]

R_101 = "RFC 6455 §4.2.2: 101 Switching Protocols with Upgrade, Connection and the right Sec-WebSocket-Accept"
R_PUSH = ('ARCHITECTURE.md: GET /topics/{t}/ws pushes each topic message as one text frame {"offset","data"}; '
          "RFC 6455 §5.1: a server MUST NOT mask the frames it sends")
R_PUBLISH = "ARCHITECTURE.md: client text frames are published to the topic (and so pushed to every subscriber)"
R_PONG = "RFC 6455 §5.5.2-5.5.3: \"Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response\", " \
         "with the same application data"
R_CLOSE = ("RFC 6455 §5.5.1: an endpoint that receives a Close MUST send a Close in response; after sending a Close "
           "it MUST NOT send more data frames; §7.1.1: the server closes the TCP connection first")
R_ERROR = "RFC 6455 §5.1, §7.1.7: an unmasked client frame fails the connection: Close 1002, then TCP closes"
R_FREED = "A socket whose client vanishes (TCP closed without a Close) is unsubscribed: GET /stats topic_waiters back to 0"


class WsClient:
    """A raw-socket WebSocket client: send bytes, read the server's frames exactly."""

    def __init__(self, s: Scenario, topic: str, query: str = "") -> None:
        self.s = s
        self.parser = FrameParser(client_side=True)
        self.received = bytearray()  # everything after the 101 head, for the hexdump
        self.eof = False
        request, key = client_handshake_request("lab", f"/topics/{topic}/ws{query}")
        self.request = request
        self.sock = connect(s.host, s.port, 5.0, s.netns_pid)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(request)
        head = bytearray()
        deadline = time.monotonic() + 3.0
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            head += chunk
        end = head.find(b"\r\n\r\n")
        self.head = bytes(head[: end + 4]) if end >= 0 else bytes(head)
        lines = self.head.split(b"\r\n")
        self.status = int(lines[0].split(b" ")[1]) if lines[0].startswith(b"HTTP/1.1 ") and len(lines[0]) > 12 else None
        self.headers = [(n.strip().lower(), v.strip()) for n, _, v in (l.partition(b":") for l in lines[1:] if l)]
        self.accept_ok = (b"sec-websocket-accept", accept_key(key).encode()) in self.headers
        if end >= 0 and len(head) > end + 4:
            self._feed(bytes(head[end + 4:]))

    def _feed(self, data: bytes) -> None:
        self.received += data
        self.parser.receive_data(data)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_event(self, timeout: float):
        """The next frame event, None on timeout, "eof" when TCP closed, or the
        WebSocketError the lab's parser raised on the server's bytes."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ev = self.parser.next_event()
            except WebSocketError as exc:
                return exc
            if ev is not NEED_DATA:
                return "eof" if getattr(ev, "name", "") == "END_OF_STREAM" else ev
            if self.eof:
                return "eof"
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                self.parser.receive_data(b"")
                continue
            self._feed(chunk)

    def dump(self) -> str:
        return describe_frames(bytes(self.received))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _open(s: Scenario, topic: str, id: str = "handshake") -> WsClient:
    try:
        ws = WsClient(s, topic)
    except OSError as exc:
        s.expect(id, False, R_101, expected="HTTP/1.1 101 Switching Protocols", got=f"({exc})", fatal=True)
    ok = ws.status == 101 and ws.accept_ok
    s.expect(id, ok, R_101, expected="HTTP/1.1 101 Switching Protocols ... Sec-WebSocket-Accept: <key's accept>",
             got=feedback.escape(ws.head) or "(nothing)", hint="" if ws.status == 101 else
             "Answer the handshake with server_handshake()'s headers and a Session that takes the connection over.",
             fatal=True)
    return ws


def _topic(s: Scenario, name: str) -> str:
    return f"{name}-{s.rng.randrange(16**6):06x}"


def _describe(ev) -> str:
    if ev is None:
        return "(nothing before the timeout)"
    if ev == "eof":
        return "(the server closed TCP)"
    if isinstance(ev, WebSocketError):
        return f"(a frame a server may not send: close code {ev.close_code}: {ev.message})"
    if isinstance(ev, Message):
        return f"Message({ev.opcode.name}, {ev.data!r:.120})"
    return repr(ev)


def _expect_push(s: Scenario, ws: WsClient, id: str, offset: int, data: str, within: float = 1.0,
                 after: str = "") -> None:
    ev = ws.next_event(within)
    want = json.dumps({"offset": offset, "data": data})
    ok = isinstance(ev, Message) and ev.opcode.name == "TEXT"
    value = None
    if ok:
        try:
            value = json.loads(ev.data)
        except ValueError:
            ok = False
    ok = ok and isinstance(value, dict) and value.get("offset") == offset and value.get("data") == data
    if ev is None:
        hint = "Subscribe to the topic when the session starts (start's `wake`), and push what is new in tick()."
    elif isinstance(ev, Message):
        hint = 'The frame\'s text is the JSON object {"offset": n, "data": "<the message as text>"}.'
    else:
        hint = "Only the topic's messages come as data frames, one text frame each, unmasked."
    s.expect(id, ok, R_PUSH, expected=f"a text frame {want} within {within:g} s", got=_describe(ev) + "\n" + ws.dump(),
             hint=hint, sent=after)


# --- stage 1 ---------------------------------------------------------------------------


def upgrade_101(s: Scenario) -> None:
    ws = _open(s, _topic(s, "ws"))
    ws.close()
    reply = s.request("GET", f"/topics/{_topic(s, 'ws')}/ws", headers=(("Upgrade", "websocket"),
                      ("Connection", "Upgrade"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                      ("Sec-WebSocket-Version", "8")))
    s.expect_status("version-8-is-426", reply, 426, "RFC 6455 §4.4: 426 and Sec-WebSocket-Version: 13", fatal=False)
    reply = s.request("GET", f"/topics/{_topic(s, 'ws')}/ws", headers=(("Upgrade", "websocket"),
                      ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13")))
    s.expect_status("no-key-is-400", reply, 400, "RFC 6455 §4.2.1: a handshake without Sec-WebSocket-Key is 400",
                    fatal=False)


# --- stage 2 ---------------------------------------------------------------------------


def messages_pushed_as_text_frames(s: Scenario) -> None:
    topic = _topic(s, "push")
    ws = _open(s, topic)
    for i in range(1, 4):
        data = f"news {i} {s.rng.randrange(10**6)}"
        reply = s.request("POST", f"/topics/{topic}", data.encode())
        s.expect_status(f"publish-{i}", reply, 201, R_PUSH)
        _expect_push(s, ws, f"pushed-{i}", i, data, after=f"POST /topics/{topic} {data!r} (on another connection)")
    ws.close()


def client_text_published(s: Scenario) -> None:
    topic = _topic(s, "chat")
    alice, bob = _open(s, topic, "alice-handshake"), _open(s, topic, "bob-handshake")
    text = f"hello from alice {s.rng.randrange(10**6)}"
    alice.send(frame(1, text.encode()))
    sent = f"a masked text frame {text!r} from alice"
    _expect_push(s, alice, "back-to-the-sender", 1, text, after=sent)
    _expect_push(s, bob, "to-the-other-subscriber", 1, text, after=sent)
    reply = s.request("GET", f"/topics/{topic}?after=0")
    msgs = (reply.json() or {}).get("messages", [])
    s.expect("in-the-topic", [m.get("data") for m in msgs if isinstance(m, dict)] == [text], R_PUBLISH, reply=reply,
             expected=f'"messages": [{{"offset": 1, "data": "{text}", ...}}]')
    alice.close()
    bob.close()


def ping_pong(s: Scenario) -> None:
    ws = _open(s, _topic(s, "ping"))
    payload = f"are you there {s.rng.randrange(1000)}".encode()
    ws.send(frame(9, payload))
    ev = ws.next_event(1.0)
    s.expect("pong", isinstance(ev, Pong) and ev.payload == payload, R_PONG, sent=f"Ping({payload!r}), masked",
             expected=f"Pong({payload!r}) within 1 s", got=_describe(ev) + "\n" + ws.dump(),
             hint="Send what the WebSocketConnection queued (data_to_send()) after every event, the Pong included.")
    ws.close()


# --- stage 3 ---------------------------------------------------------------------------


def close_handshake(s: Scenario) -> None:
    ws = _open(s, _topic(s, "bye"))
    ws.send(frame(8, b"\x03\xe8done"))
    ev = ws.next_event(1.0)
    s.expect("close-answered", isinstance(ev, Close) and ev.code == 1000, R_CLOSE, sent="Close(1000, 'done'), masked",
             expected="Close(1000) within 1 s", got=_describe(ev) + "\n" + ws.dump(), fatal=True)
    after = ws.next_event(1.5)
    s.expect("then-tcp-closed", after == "eof", R_CLOSE, expected="nothing more, then EOF (the server closes TCP)",
             got=_describe(after) + "\n" + ws.dump(),
             hint="Once the Close handshake is done, set closing: the I/O model then closes the socket.")
    ws.close()


def vanished_client_unsubscribed(s: Scenario) -> None:
    ws = _open(s, _topic(s, "gone"))
    deadline = time.monotonic() + 1.0
    held = None
    while time.monotonic() < deadline:
        held = s.stats().get("topic_waiters")
        if isinstance(held, int) and held >= 1:
            break
        time.sleep(0.05)
    s.expect("subscribed", isinstance(held, int) and held >= 1, R_FREED,
             expected='GET /stats shows "topic_waiters" >= 1 while the socket is open', got=f"(topic_waiters: {held})",
             fatal=True)
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    ws.close()  # RST: the client vanished without a Close
    deadline = time.monotonic() + 1.5
    left = None
    while time.monotonic() < deadline:
        left = s.stats().get("topic_waiters")
        if left == 0:
            break
        time.sleep(0.05)
    s.expect("unsubscribed", left == 0, R_FREED, expected='"topic_waiters": 0 within 1.5 s',
             got=f"(topic_waiters: {left})",
             hint="connection_lost() is called when the TCP connection goes: unsubscribe there.")


CHECKS = {
    "upgrade-101": ScenarioCheck(upgrade_101),
    "messages-pushed-as-text-frames": ScenarioCheck(messages_pushed_as_text_frames),
    "client-text-published": ScenarioCheck(client_text_published),
    "ping-pong": ScenarioCheck(ping_pong),
    "close-handshake": ScenarioCheck(close_handshake),
    "vanished-client-unsubscribed": ScenarioCheck(vanished_client_unsubscribed),
}
