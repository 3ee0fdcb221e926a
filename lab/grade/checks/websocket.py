"""Check bodies for exercise 10-websocket-frames (RFC 6455 §4 handshake, §5 framing).

The student's ``handshake.py`` and ``frames.py`` are called in the sandbox (the call
harness); what they return is judged here. Frames the student must parse are built
here, byte by byte, by ``frame()`` (independent of any codec, so they can be wrong on
purpose: unmasked, non-minimal lengths, reserved bits). Frames the student encodes are
compared byte for byte with the RFC's own examples (§5.7) and the length rules (§5.2).
Every failure about frames shows a hexdump with each frame's header fields decoded
(FIN, RSV, opcode, MASK, length and its width, masking key, payload).
"""
from __future__ import annotations

import base64
import hashlib
import struct

from .. import feedback
from .programs import Call, ProgramCheck, Verdict, raised
from .parser import split_points

__all__ = ["CHECKS", "PROGRAM", "frame", "describe_frames"]

PROGRAM = r'''
import sys

def _ev(e):
    name = type(e).__name__
    if name == "Message":
        text = isinstance(e.data, str)
        return ["Message", int(e.opcode), e.data if text else B(e.data), text]
    if name in ("Ping", "Pong"):
        return [name, B(e.payload)]
    if name == "Close":
        return ["Close", e.code, e.reason]
    if name == "Signal" or getattr(e, "name", "") == "END_OF_STREAM":
        return ["END"]
    return ["Unknown", repr(e)[:100]]

def run(m, a):
    hs = sys.modules["protocols.websocket.handshake"]
    fr = sys.modules["protocols.websocket.frames"]
    k = a["kind"]
    if k == "accept":
        return hs.accept_key(a["key"])
    if k == "handshake":
        headers = [(n.encode(), v.encode()) for n, v in a["headers"]]
        try:
            out = hs.server_handshake(a["method"].encode(), headers)
        except Exception as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int) and type(exc).__name__ != "NotImplementedError":
                return {"status": status, "headers": [[B(n), B(v)] for n, v in (getattr(exc, "headers", None) or [])]}
            raise
        return {"status": 101, "headers": [[B(n), B(v)] for n, v in out]}
    if k == "encode":
        args = [x.encode("latin-1") if isinstance(x, str) and a.get("bytes_args") else x for x in a["args"]]
        kw = dict(a.get("kw", {}))
        if "mask" in kw and kw["mask"] is not None:
            kw["mask"] = kw["mask"].encode("latin-1")
        return B(getattr(fr, a["fn"])(*args, **kw))
    data = a["data"].encode("latin-1")
    p = fr.FrameParser(client_side=a.get("client_side", False), max_message=a.get("max_message", 16 * 1024 * 1024))
    events, pos = [], 0
    chunks = [data[pos:pos + n] for pos, n in zip(__import__("itertools").accumulate([0] + a["chunks"][:-1]), a["chunks"])]
    if a.get("eof"):
        chunks.append(b"")
    try:
        for chunk in chunks:
            p.receive_data(chunk)
            while True:
                ev = p.next_event()
                if getattr(ev, "name", "") == "NEED_DATA":
                    break
                events.append(_ev(ev))
                if events[-1] == ["END"] or len(events) > 1000:
                    break
            if events and events[-1] == ["END"]:
                break
    except Exception as exc:
        code = getattr(exc, "close_code", None)
        if isinstance(code, int) and type(exc).__name__ != "NotImplementedError":
            return {"events": events, "error": code, "message": str(getattr(exc, "message", exc))[:200]}
        raise
    return {"events": events}
'''

MASK = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's example masking key
OPCODES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
R_ACCEPT = ("RFC 6455 §4.2.2: Sec-WebSocket-Accept = base64(SHA-1(Sec-WebSocket-Key + "
            "\"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")), the key taken as a string, not decoded")
R_101 = "RFC 6455 §4.2.2: the 101 carries Upgrade: websocket, Connection: Upgrade and Sec-WebSocket-Accept"
R_TOKENS = "RFC 6455 §4.2.1: Upgrade and Connection are compared as ASCII case-insensitive tokens of a list"
R_400 = "RFC 6455 §4.2.2: a handshake that does not match §4.2.1 is answered with an error such as 400"
R_426 = ("RFC 6455 §4.4: a version the server does not speak gets 426 Upgrade Required and "
         "Sec-WebSocket-Version: 13")
R_EXAMPLES = "RFC 6455 §5.7: the example frames, byte for byte"
R_LENGTH = ("RFC 6455 §5.2: payload length 0-125 in 7 bits; 126 then 16 bits for 126-65535; 127 then 64 bits "
            "(most significant bit 0) above; \"the minimal number of bytes MUST be used to encode the length\"")
R_MASK_SERVER = "RFC 6455 §5.1: \"The server MUST close the connection upon receiving a frame that is not masked\" (1002)"
R_MASK_CLIENT = "RFC 6455 §5.1: \"A client MUST close a connection if it detects a masked frame\" (1002)"
R_UNMASK = "RFC 6455 §5.3: octet i of the payload is XORed with octet i mod 4 of the masking key"
R_FRAGMENTS = ("RFC 6455 §5.4: a fragmented message is a frame with FIN clear and an opcode, then continuation "
               "frames (opcode 0), the last with FIN set; control frames MAY be injected in between; fragments "
               "of two messages MUST NOT interleave")
R_CONTROL = ("RFC 6455 §5.5: \"All control frames MUST have a payload length of 125 bytes or less and MUST NOT "
             "be fragmented\"; §5.2: reserved opcodes and RSV bits without an extension fail the connection")
R_CLOSE = ("RFC 6455 §5.5.1/§7.4: a Close body is empty or a 2-byte code then UTF-8; 1005, 1006, 1015 and "
           "codes outside 1000-1003, 1007-1014, 3000-4999 may not be sent; a 1-byte body is invalid")
R_UTF8 = ("RFC 6455 §8.1: a text message that is not valid UTF-8 fails the connection with 1007; a character "
          "may be split across fragments")
R_SIZE = "RFC 6455 §10.4/§7.4.1: a message over the limit is refused with 1009, on its length field alone"


# --- building and describing frames --------------------------------------------------


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = MASK, rsv: int = 0,
          length: int | None = None, width: int | None = None) -> bytes:
    """One frame, exactly as asked: ``length``/``width`` override the payload's length
    and the length field's size (7, 16, 64) to build invalid frames."""
    n = len(payload) if length is None else length
    width = width or (7 if n < 126 else 16 if n < 0x10000 else 64)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask is not None else 0
    if width == 7:
        head += bytes([bit | n])
    elif width == 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def describe_frames(data: bytes, limit: int = 6) -> str:
    """A hexdump of ``data`` frame by frame, with the header fields decoded."""
    lines, pos, n = [], 0, 0
    while pos < len(data) and n < limit:
        n += 1
        if len(data) - pos < 2:
            lines.append(f"@{pos}: {data[pos:].hex(' ')}  (a frame header needs 2 bytes)")
            break
        b0, b1 = data[pos], data[pos + 1]
        fin, rsv, op = b0 >> 7, (b0 >> 4) & 7, b0 & 0xF
        masked, length = b1 >> 7, b1 & 0x7F
        hdr = 2
        width = "7-bit"
        if length == 126:
            width, hdr = "16-bit", 4
            length = struct.unpack_from("!H", data, pos + 2)[0] if len(data) >= pos + 4 else None
        elif length == 127:
            width, hdr = "64-bit", 10
            length = struct.unpack_from("!Q", data, pos + 2)[0] if len(data) >= pos + 10 else None
        key = data[pos + hdr: pos + hdr + 4] if masked else b""
        hdr += 4 if masked else 0
        head = data[pos: pos + hdr]
        # RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
        wasteful = length is not None and ((hdr == 4 and length < 126) or (hdr == 10 and length < 65536))
        fields = (f"FIN={fin} RSV={rsv:03b} opcode={op:#x} ({OPCODES.get(op, 'reserved')}) MASK={masked} "
                  f"length={length} ({width}{', not minimal' if wasteful else ''})"
                  + (f" key={key.hex()}" if masked else ""))
        lines.append(f"@{pos}: {head.hex(' ')}  {fields}")
        if length is None:
            lines.append("       (the length field is cut short)")
            break
        payload = data[pos + hdr: pos + hdr + length]
        if masked and len(key) == 4:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        shown = payload[:24]
        lines.append(f"       payload{' (unmasked)' if masked else ''}: {shown.hex(' ')}"
                     f"{' ...' if len(payload) > 24 else ''}  '{feedback.escape(shown)}'"
                     + (f"  [{len(payload)} of {length} bytes present]" if len(payload) < length else ""))
        pos += hdr + length
    if pos < len(data):
        lines.append(f"... {len(data) - pos} more byte(s)")
    return "\n".join(lines) if lines else "(no bytes)"


def _short(data: bytes) -> str:
    return data[:40].hex(" ") + (f" ... ({len(data)} bytes)" if len(data) > 40 else "")


# --- handshake ------------------------------------------------------------------------


def spec_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()


def accept(id: str, key: str | None = None) -> Call:
    def args(rng):
        return {"kind": "accept", "key": key or base64.b64encode(rng.randbytes(16)).decode()}

    def judge(got: dict) -> Verdict:
        want = spec_accept(got["args"]["key"])  # the key may be a seeded one
        if "exception" in got:
            return Verdict(False, want, raised(got))
        value = got["value"]
        if isinstance(value, bytes):
            value = value.decode()
        return Verdict(value == want, want, str(value), "SHA-1 of the key (as sent, a string) + the GUID, then "
                       "base64: not the decoded key, not hex.", caret_in="received")

    return Call(id, args, judge, R_ACCEPT, sent=f"accept_key({key!r})" if key else "accept_key(<a seeded random key>)")


GOOD = [("Host", "lab"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]


def _headers_text(headers) -> str:
    return "\\r\\n".join(f"{n}: {v}" for n, v in headers)


def handshake(id: str, headers: list, rule: str, *, method: str = "GET", status: int = 101,
              need: tuple = ()) -> Call:
    key = next((v for n, v in headers if n.lower() == "sec-websocket-key"), "")
    if status == 101:
        need = (("upgrade", "websocket"), ("connection", "upgrade"), ("sec-websocket-accept", spec_accept(key)))

    def judge(got: dict) -> Verdict:
        want = f"{status}" + "".join(f", {n}: {v}" for n, v in need)
        if "exception" in got:
            return Verdict(False, want, raised(got), "Refuse with HTTPError(status, message), nothing else.")
        value = got["value"]
        have = [(n.lower(), v) for n, v in value["headers"]]
        shown = f"{value['status']}" + "".join(f", {n}: {v}" for n, v in value["headers"])
        if value["status"] != status:
            hint = ("This handshake is valid: answer it." if status == 101 else
                    "Refuse it (raise HTTPError) with the status the RFC names." if value["status"] == 101 else
                    "Each refusal has its own status: 426 is for the version only.")
            return Verdict(False, want, shown, hint)
        for name, v in need:
            ok = any(n == name and (hv.lower() == v.lower() if name != "sec-websocket-accept" else hv == v)
                     for n, hv in have)
            if not ok:
                return Verdict(False, want, shown, f"The answer needs `{name}: {v}`.")
        return Verdict(True, want, shown)

    return Call(id, {"kind": "handshake", "method": method, "headers": headers}, judge, rule,
                sent=f"server_handshake({method!r}, {_headers_text(headers)})")


def without(name: str, *extra) -> list:
    return [(n, v) for n, v in GOOD if n != name] + list(extra)


def replaced(name: str, value: str) -> list:
    return [(n, value if n == name else v) for n, v in GOOD]


# --- encoding -------------------------------------------------------------------------


def encodes(id: str, fn: str, args: list, want: bytes, rule: str, *, kw: dict | None = None,
            bytes_args: bool = False, hint: str = "") -> Call:
    def judge(got: dict) -> Verdict:
        if "exception" in got:
            return Verdict(False, _short(want), raised(got), "This frame is valid: encode it.")
        out = got["value"].encode("latin-1")
        ok = out == want
        extra = "" if ok else "expected:\n" + describe_frames(want) + "\ngot:\n" + describe_frames(out)
        return Verdict(ok, _short(want), _short(out), hint, caret_in="received", extra=extra)

    wire_kw = dict(kw or {})
    if wire_kw.get("mask") is not None:
        wire_kw["mask"] = wire_kw["mask"].decode("latin-1")
    wire_args = [a.decode("latin-1") if isinstance(a, bytes) else a for a in args]
    shown = ", ".join([*(repr(a if len(repr(a)) < 40 else f"<{len(a)} bytes>") for a in args),
                       *(f"{k}={v!r}" for k, v in (kw or {}).items())])
    return Call(id, {"kind": "encode", "fn": fn, "args": wire_args, "kw": wire_kw, "bytes_args": bytes_args},
                judge, rule, sent=f"{fn}({shown})")


def refuses(id: str, fn: str, args: list, rule: str, *, kw: dict | None = None, bytes_args: bool = False) -> Call:
    def judge(got: dict) -> Verdict:
        exc = got.get("exception")
        if exc and exc["type"] == "ValueError":
            return Verdict(True, "raise ValueError", raised(got))
        if exc:
            return Verdict(False, "raise ValueError", raised(got))
        out = got["value"].encode("latin-1")
        return Verdict(False, "raise ValueError", _short(out), "This frame may not be sent: refuse it.",
                       extra=describe_frames(out))

    wire_args = [a.decode("latin-1") if isinstance(a, bytes) else a for a in args]
    return Call(id, {"kind": "encode", "fn": fn, "args": wire_args, "kw": kw or {}, "bytes_args": bytes_args},
                judge, rule, sent=f"{fn}({', '.join(map(repr, args))}{''.join(f', {k}={v!r}' for k, v in (kw or {}).items())})")


# --- parsing ----------------------------------------------------------------------------


def M(text: str) -> list:
    return ["Message", 1, text, True]


def MB(data: bytes) -> list:
    return ["Message", 2, data.decode("latin-1"), False]


def render(events: list, error: int | None = None) -> str:
    def one(e):
        if e[0] == "Message":
            data = e[2] if e[3] else e[2].encode("latin-1")
            shown = repr(data if len(data) <= 30 else data[:30]) + ("" if len(data) <= 30 else f"...({len(data)})")
            return f"Message({'TEXT' if e[3] else 'BINARY'}, {shown})"
        if e[0] in ("Ping", "Pong"):
            return f"{e[0]}({e[1].encode('latin-1')!r})"
        if e[0] == "Close":
            return f"Close({e[1]}, {e[2]!r})"
        return e[0]
    parts = [one(e) for e in events]
    if error is not None:
        parts.append(f"WebSocketError(close_code={error})")
    return ", ".join(parts) or "(no events)"


def parses(id: str, data: bytes, events: list, rule: str, *, error: int | None = None, client_side: bool = False,
           max_message: int | None = None, feeds=("whole", "bytewise", "random"), hint: str = "") -> list[Call]:
    calls = []
    for feed in feeds:
        def args(rng, feed=feed):
            n = len(data)
            chunks = {"whole": [n], "bytewise": [1] * n}.get(feed) or split_points(rng, n)
            out = {"kind": "parse", "data": data.decode("latin-1"), "chunks": chunks, "client_side": client_side}
            if max_message is not None:
                out["max_message"] = max_message
            return out

        def judge(got: dict, feed=feed) -> Verdict:
            want = render(events, error)
            if "exception" in got:
                return Verdict(False, want, raised(got), "Protocol violations raise WebSocketError(close_code, ...)",
                               extra=describe_frames(data))
            value = got["value"]
            have = render(value["events"], value.get("error"))
            ok = value["events"] == events and value.get("error") == error
            why = hint
            if not ok and not why:
                if error is not None and value.get("error") is None:
                    why = "This input breaks a MUST of RFC 6455: fail the connection with WebSocketError."
                elif error is not None:
                    why = "Refused, but with the wrong close code."
                elif value.get("error") is not None:
                    why = "This input is valid and must be parsed."
                elif feed != "whole":
                    why = feedback.hint_for("byte_at_a_time")
            return Verdict(ok, want, have, why, caret_in="received", extra="" if ok else describe_frames(data))

        how = {"whole": "whole", "bytewise": "one byte at a time", "random": "split at seeded points"}[feed]
        calls.append(Call(f"{id}/{feed}", args, judge, rule,
                          sent=f"{_short(data)}  ({'client' if client_side else 'server'} side, fed {how})"))
    return calls


BIG = bytes(range(256)) * 256  # 65,536 bytes

CHECKS = {
    # --- stage 1: the opening handshake ---
    "accept-key": ProgramCheck(PROGRAM, [
        accept("rfc-example", "dGhlIHNhbXBsZSBub25jZQ=="),
        accept("seeded-key-1"),
        accept("seeded-key-2"),
    ]),
    "server-handshake": ProgramCheck(PROGRAM, [
        handshake("rfc-request", GOOD, R_101),
        handshake("token-lists", replaced("Connection", "keep-alive, Upgrade"), R_TOKENS),
        handshake("case-insensitive", replaced("Upgrade", "WebSocket") + [], R_TOKENS),
    ]),
    "handshake-refusals": ProgramCheck(PROGRAM, [
        handshake("post", GOOD, R_400, method="POST", status=400),
        handshake("no-upgrade", without("Upgrade"), R_400, status=400),
        handshake("no-connection-upgrade", replaced("Connection", "keep-alive"), R_400, status=400),
        handshake("version-8", replaced("Sec-WebSocket-Version", "8"), R_426, status=426,
                  need=(("sec-websocket-version", "13"),)),
        handshake("no-version", without("Sec-WebSocket-Version"), R_426, status=426,
                  need=(("sec-websocket-version", "13"),)),
        handshake("two-keys", GOOD + [("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA==")], R_400, status=400),
        handshake("short-key", replaced("Sec-WebSocket-Key", "c2hvcnQ="), R_400, status=400),
    ]),
    # --- stage 2: writing frames ---
    "encode-rfc-examples": ProgramCheck(PROGRAM, [
        encodes("unmasked-text", "encode_text", ["Hello"], bytes.fromhex("810548656c6c6f"), R_EXAMPLES),
        encodes("masked-text", "encode_text", ["Hello"], bytes.fromhex("818537fa213d7f9f4d5158"), R_EXAMPLES,
                kw={"mask": MASK}, hint=R_UNMASK),
        encodes("ping", "encode_ping", [b"Hello"], bytes.fromhex("890548656c6c6f"), R_EXAMPLES, bytes_args=True),
        encodes("fragment", "encode_frame", [1, b"Hel"], bytes.fromhex("010348656c"), R_EXAMPLES,
                kw={"fin": False}, bytes_args=True),
    ]),
    "encode-lengths": ProgramCheck(PROGRAM, [
        encodes(f"binary-{n}", "encode_binary", [BIG[:n]], frame(2, BIG[:n], mask=None), R_LENGTH, bytes_args=True,
                hint="Pick the length form by the payload's size: < 126, < 65536, else 64-bit.")
        for n in (0, 125, 126, 65535, 65536)
    ]),
    "encode-close": ProgramCheck(PROGRAM, [
        encodes("close-1000-bye", "encode_close", [1000, "bye"], bytes.fromhex("880503e8627965"), R_CLOSE),
        encodes("close-empty", "encode_close", [None], bytes.fromhex("8800"), R_CLOSE),
        refuses("close-1005", "encode_close", [1005], R_CLOSE),
        refuses("close-999", "encode_close", [999], R_CLOSE),
        refuses("close-reason-too-long", "encode_close", [1000, "x" * 124], R_CONTROL),
        refuses("ping-too-long", "encode_ping", [b"x" * 126], R_CONTROL, bytes_args=True),
        refuses("fragmented-ping", "encode_frame", [9, b""], R_CONTROL, kw={"fin": False}, bytes_args=True),
    ]),
    # --- stage 3: reading frames (the server side, unless said) ---
    "parse-masked-frames": ProgramCheck(PROGRAM, [
        *parses("rfc-masked-hello", bytes.fromhex("818537fa213d7f9f4d5158"), [M("Hello")], R_UNMASK),
        *parses("binary", frame(2, b"\x00\xffbin"), [MB(b"\x00\xffbin")], R_UNMASK),
        *parses("ping-pong", frame(9, b"hi") + frame(10, b"yo"), [["Ping", "hi"], ["Pong", "yo"]], R_UNMASK),
        *parses("close", frame(8, b"\x03\xe8bye"), [["Close", 1000, "bye"]], R_CLOSE),
        *parses("client-side-unmasked", bytes.fromhex("810548656c6c6f"), [M("Hello")], R_MASK_CLIENT,
                client_side=True),
    ]),
    "unmasked-client-frame-refused": ProgramCheck(PROGRAM, [
        *parses("unmasked-text", frame(1, b"Hello", mask=None), [], R_MASK_SERVER, error=1002,
                hint="A server must refuse an unmasked frame (1002): the MASK bit is the first bit of byte 2."),
        *parses("unmasked-ping", frame(9, b"", mask=None), [], R_MASK_SERVER, error=1002),
        *parses("masked-to-client", frame(1, b"Hello"), [], R_MASK_CLIENT, error=1002, client_side=True),
    ]),
    "parse-lengths": ProgramCheck(PROGRAM, [
        *parses("len-125", frame(2, BIG[:125]), [MB(BIG[:125])], R_LENGTH),
        *parses("len-126", frame(2, BIG[:126]), [MB(BIG[:126])], R_LENGTH),
        *parses("len-65535", frame(2, BIG[:65535]), [MB(BIG[:65535])], R_LENGTH, feeds=("whole", "random")),
        *parses("len-65536", frame(2, BIG), [MB(BIG)], R_LENGTH, feeds=("whole", "random")),
        *parses("non-minimal-16", frame(1, b"Hello", width=16), [], R_LENGTH, error=1002),
        *parses("non-minimal-64", frame(2, BIG[:300], width=64), [], R_LENGTH, error=1002),
        *parses("64-bit-high-bit", frame(2, b"", length=1 << 63, width=64), [], R_LENGTH, error=1002),
    ]),
    "fragmentation": ProgramCheck(PROGRAM, [
        *parses("three-fragments", frame(1, b"Hel", fin=False) + frame(0, b"lo ", fin=False) + frame(0, b"you"),
                [M("Hello you")], R_FRAGMENTS),
        *parses("ping-between-fragments", frame(2, b"ab", fin=False) + frame(9, b"p") + frame(0, b"cd"),
                [["Ping", "p"], MB(b"abcd")], R_FRAGMENTS),
        *parses("continuation-first", frame(0, b"x"), [], R_FRAGMENTS, error=1002),
        *parses("interleaved", frame(1, b"a", fin=False) + frame(1, b"b"), [], R_FRAGMENTS, error=1002),
    ]),
    "control-frame-rules": ProgramCheck(PROGRAM, [
        *parses("ping-126", frame(9, b"x" * 126), [], R_CONTROL, error=1002),
        *parses("fragmented-ping", frame(9, b"x", fin=False), [], R_CONTROL, error=1002),
        *parses("reserved-opcode-3", frame(3, b"x"), [], R_CONTROL, error=1002),
        *parses("reserved-opcode-b", frame(0xB, b""), [], R_CONTROL, error=1002),
        *parses("rsv1-set", frame(1, b"x", rsv=4), [], R_CONTROL, error=1002),
    ]),
}
