"""`lab trace handshake`: a TCP connection whose every segment scapy writes by hand.

The kernel is left out of the client side: scapy sends the SYN, reads the lab's
SYN-ACK, sends the ACK (the three-way handshake, RFC 9293 section 3.5), sends an HTTP
request, acknowledges each segment of the answer, and closes with FIN.

One problem, and why a network namespace: when the SYN-ACK arrives, the kernel finds no
socket of its own for that connection and answers with RST (RFC 9293 section 3.10.7.1),
which would kill the connection at once. A firewall rule drops those RSTs, and it must
not touch the machine's real traffic, so the whole exchange runs in a private network
namespace made with unshare(1) (``--net``; plus ``--user --map-root-user`` when not
root). The namespace has its own ``lo``, its own firewall and the lab server started
inside it; it disappears when the command ends, rule and all.

The outer command (`run_handshake`) only creates the namespace and relays the output;
the inner one (``python -m lab.trace.handshake --inner``) does the work.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["run_handshake", "inner_main"]

OUTER_SECONDS = 90.0  # bound on the whole namespaced run
REPLY_SECONDS = 3.0  # bound on waiting for one segment from the lab
NFT_TABLE = "labtrace"
REPO = Path(__file__).resolve().parents[2]

NEEDS = """\
lab trace handshake needs a private network namespace, which this process may not create:
  - run it as root (e.g. sudo lab trace handshake), or
  - allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 on Debian,
    user.max_user_namespaces > 0), then it runs as `unshare --user --map-root-user --net`."""


def _namespace_prefixes() -> list[list[str]]:
    """How to get a private network namespace: as root directly, else (or when root
    lacks CAP_SYS_ADMIN) inside a new user namespace where we are root."""
    user_ns = ["unshare", "--user", "--map-root-user", "--net"]
    return [["unshare", "--net"], user_ns] if os.geteuid() == 0 else [user_ns]


def run_handshake(args: argparse.Namespace) -> int:
    """Create the namespace, run the inner command in it, relay what it prints."""
    if shutil.which("unshare") is None:
        print("lab trace handshake: unshare(1) (util-linux) is not installed.\n" + NEEDS, file=sys.stderr)
        return 1
    inner = [sys.executable, "-m", "lab.trace.handshake", "--inner", "--io", args.io]
    if getattr(args, "json", False):
        inner.append("--json")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    refusals = []
    for prefix in _namespace_prefixes():
        try:
            result = subprocess.run(prefix + inner, capture_output=True, text=True,
                                    timeout=OUTER_SECONDS, env=env)
        except subprocess.TimeoutExpired:
            print(f"lab trace handshake: no result within {OUTER_SECONDS:.0f} s", file=sys.stderr)
            return 1
        if result.returncode != 0 and result.stderr.startswith("unshare:"):
            refusals.append(f"{' '.join(prefix)}: {result.stderr.strip()}")
            continue  # this way to a namespace is closed; try the next
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result.returncode
    print("lab trace handshake: " + "; ".join(refusals) + "\n" + NEEDS, file=sys.stderr)
    return 1


# --- inside the namespace ------------------------------------------------------------


class Rules:
    """A firewall rule, inside this namespace only, dropping the kernel's RSTs."""

    def __init__(self, client_port: int) -> None:
        self.port = client_port
        self.undo: list[list[str]] = []

    def install(self) -> str:
        if shutil.which("nft"):
            steps = [
                ["nft", "add", "table", "inet", NFT_TABLE],
                ["nft", "add", "chain", "inet", NFT_TABLE, "output",
                 "{ type filter hook output priority 0 ; }"],
                ["nft", "add", "rule", "inet", NFT_TABLE, "output",
                 "tcp", "sport", str(self.port), "tcp", "flags", "&", "rst", "==", "rst", "drop"],
            ]
            if all(_quiet(step) for step in steps):
                self.undo.append(["nft", "delete", "table", "inet", NFT_TABLE])
                return f"nft: inet {NFT_TABLE} output: tcp sport {self.port} tcp flags & rst == rst drop"
            _quiet(["nft", "delete", "table", "inet", NFT_TABLE])
        if shutil.which("iptables"):
            rule = ["OUTPUT", "-p", "tcp", "--sport", str(self.port), "--tcp-flags", "RST", "RST", "-j", "DROP"]
            if _quiet(["iptables", "-A", *rule]):
                self.undo.append(["iptables", "-D", *rule])
                return "iptables: " + " ".join(rule)
        raise RuntimeError("cannot install a rule dropping the kernel's RST: "
                           "install nftables or iptables (see docs/ci-packages.txt)")

    def remove(self) -> None:
        for step in self.undo:
            _quiet(step)


def _quiet(command: list[str]) -> bool:
    return subprocess.run(command, capture_output=True, timeout=10).returncode == 0


def _loopback_up() -> None:
    if shutil.which("ip") and _quiet(["ip", "link", "set", "lo", "up"]):
        return
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH", b"lo", flags | iff_up))


class Wire:
    """Send crafted IP packets on lo; receive the lab's segments from a sniffer."""

    def __init__(self, server_port: int, client_port: int) -> None:
        import scapy.layers.inet  # noqa: F401
        from scapy.config import conf
        from scapy.sendrecv import AsyncSniffer
        from scapy.supersocket import L3RawSocket

        conf.verb = 0
        self.server_port, self.client_port = server_port, client_port
        self.replies: queue.Queue[Any] = queue.Queue()
        self.seen: list[Any] = []
        started = threading.Event()
        self.sniffer = AsyncSniffer(iface="lo", filter=f"inbound and tcp port {server_port}",
                                    prn=self._on_packet, store=False, started_callback=started.set)
        self.sniffer.start()
        if not started.wait(5):
            raise RuntimeError("the sniffer did not start")
        self.out = L3RawSocket(iface="lo")

    def _on_packet(self, pkt: Any) -> None:
        from scapy.layers.inet import TCP

        self.seen.append(pkt)
        if pkt.haslayer(TCP) and pkt[TCP].sport == self.server_port and pkt[TCP].dport == self.client_port:
            self.replies.put(pkt)

    def send(self, flags: str, seq: int, ack: int, payload: bytes = b"") -> None:
        from scapy.layers.inet import IP, TCP

        pkt = IP(src="127.0.0.1", dst="127.0.0.1") / TCP(
            sport=self.client_port, dport=self.server_port, flags=flags, seq=seq % 2**32,
            ack=ack % 2**32, window=65535)
        self.out.send(pkt / payload if payload else pkt)

    def reply(self, timeout: float = REPLY_SECONDS) -> Any | None:
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> list[Any]:
        time.sleep(0.2)  # drain: the last ACK is in flight
        if self.sniffer.running:
            self.sniffer.stop()
        self.out.close()
        return self.seen


def converse(wire: Wire, request: bytes) -> tuple[bytes, list[str]]:
    """Handshake, request, read the answer (ACKing each segment), close. Returns the
    answer's bytes and a log of the steps."""
    from scapy.layers.inet import TCP

    log: list[str] = []
    isn = random.randrange(2**32)
    wire.send("S", isn, 0)
    log.append("sent SYN")
    synack = wire.reply()
    if synack is None or synack[TCP].flags != "SA":
        raise RuntimeError(f"no SYN-ACK from the lab (got {synack[TCP].flags if synack else 'nothing'})")
    log.append("received SYN-ACK")
    client_next, server_next = isn + 1, synack[TCP].seq + 1
    wire.send("A", client_next, server_next)
    log.append("sent ACK: connection established")
    wire.send("PA", client_next, server_next, request)
    client_next += len(request)
    log.append(f"sent the request ({len(request)} bytes)")
    answer = bytearray()
    server_fin = False
    deadline = time.monotonic() + 10
    while not server_fin and time.monotonic() < deadline:
        pkt = wire.reply()
        if pkt is None:
            break
        tcp = pkt[TCP]
        payload = bytes(tcp.payload)
        if tcp.flags.R:
            raise RuntimeError("the lab reset the connection")
        if payload and tcp.seq % 2**32 == server_next % 2**32:
            answer += payload
            server_next += len(payload)
        if tcp.flags.F and (tcp.seq + len(payload)) % 2**32 == server_next % 2**32:
            server_next += 1
            server_fin = True
        if payload or tcp.flags.F:
            wire.send("A", client_next, server_next)  # acknowledge, or the lab retransmits
    log.append(f"received {len(answer)} bytes of answer" + (" and the lab's FIN" if server_fin else ""))
    wire.send("FA", client_next, server_next)
    log.append("sent FIN")
    last = wire.reply()
    log.append("received the ACK of our FIN" if last is not None and last[TCP].flags.A else "no ACK of our FIN")
    return bytes(answer), log


def inner_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.trace.handshake")
    parser.add_argument("--inner", action="store_true", required=True)
    parser.add_argument("--io", default="epoll")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from .cli import annotate_all
    from .reassembly import segments_from_packets, split_connections
    from .server import ServerError, start_lab
    from .timeline import build_trace, render_json, render_text

    try:
        _loopback_up()
    except OSError as exc:
        print(f"lab trace handshake: cannot bring lo up in the namespace: {exc}", file=sys.stderr)
        return 1
    client_port = random.randrange(40000, 60000)
    rules = Rules(client_port)
    try:
        rule = rules.install()
        server = start_lab("hello", args.io)
    except (RuntimeError, ServerError) as exc:
        rules.remove()
        print(f"lab trace handshake: {exc}", file=sys.stderr)
        return 1
    wire = None
    try:
        wire = Wire(server.port, client_port)
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % server.port
        answer, log = converse(wire, request)
    except (RuntimeError, OSError) as exc:
        print(f"lab trace handshake: {exc}", file=sys.stderr)
        return 1
    finally:
        packets = wire.close() if wire is not None else []
        server.stop()
        rules.remove()
    connections = split_connections(segments_from_packets(packets), server.port)
    note = (f"scapy wrote every client segment; the kernel's RSTs were dropped by {rule} "
            f"inside a private network namespace")
    trace = build_trace("capture", connections, annotate_all(connections), note=note)
    if args.json:
        print(render_json(trace))
    else:
        print("\n".join(f"step: {line}" for line in log))
        print(render_text(trace), end="")
        status = answer.split(b"\r\n", 1)[0].decode("latin-1")
        print(f"answer: {status!r}, {len(answer)} bytes")
    return 0 if answer.startswith(b"HTTP/1.1 200") else 1


if __name__ == "__main__":
    sys.exit(inner_main())
