"""Packet capture on the loopback interface with scapy, done the way that loses nothing.

Facts measured on this machine (FACTS.md, the tracer issue) and what each one means here:

- Every loopback packet passes the packet socket twice, once going out and once coming
  in: the BPF filter says ``inbound``, and without libpcap (no BPF compiler) the
  socket drops frames whose packet type is PACKET_OUTGOING.
- BPF filters need libpcap (the ``tcpdump`` or ``libpcap0.8`` package). Without it the
  port test runs in Python on the raw bytes (the ``lfilter`` path).
- The default socket buffer lost up to 60% of a burst: ``conf.bufsize`` = 4 MiB.
- The client may start only after ``started_callback`` fired, and the capture must be
  drained (no new frame for a while) before ``stop()``, or the SYN or the tail is lost.
- Loopback frames can exceed 65,535 bytes (lo's MTU is 65,536 plus the Ethernet
  header): scapy cuts them twice, in the BPF program's snap length and in ``recv``'s
  size, both its MTU constant. Both are raised to `SNAPLEN`.
- Dissecting in the capture thread slows a Python server 20-50x: frames are stored as
  raw bytes with their kernel timestamps and dissected after the capture.
- Without privileges the packet socket fails with PermissionError. CAP_NET_RAW is
  enough; `unshare --user --map-root-user --net` gives a private ``lo`` where capture
  works. `CaptureUnavailable` carries a message that says so.
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Capture", "CaptureUnavailable", "LoopbackSniffer", "SNAPLEN", "UNPRIVILEGED_HELP"]

SNAPLEN = 262144  # tcpdump's default snap length: whole frames on any loopback MTU
BUFSIZE = 4 * 1024 * 1024  # socket receive buffer: a 4 MiB buffer lost none of a burst
START_SECONDS = 5.0  # bound on waiting for started_callback
QUIET_SECONDS = 0.3  # "drained": no new frame for this long
DRAIN_SECONDS = 5.0  # bound on draining
ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
PACKET_OUTGOING = 4  # linux/if_packet.h

UNPRIVILEGED_HELP = """\
Packet capture needs the CAP_NET_RAW capability, which this process does not have.
Options:
  - run as root, or grant the capability:  sudo setcap cap_net_raw+ep "$(readlink -f $(which python3))"
  - use a private network namespace as an unprivileged user (the lab must run inside it too):
        unshare --user --map-root-user --net sh -c 'ip link set lo up && lab trace SCENARIO'
  - or trace without packets: `lab trace` falls back (or `--no-capture` asks) to an
    application-level byte tap: each send/recv with a timestamp, which shows read/write
    boundaries, not TCP segments."""


class CaptureUnavailable(Exception):
    """Packet capture is not possible here; the message names the options."""


@dataclass
class Capture:
    """Raw frames from a capture, dissected only when asked."""

    frames: list[tuple[float, bytes]]  # (kernel timestamp, frame bytes)
    linktype: int  # pcap LINKTYPE_* of the frames (1 = Ethernet, what Linux lo uses)
    bpf: bool  # whether the kernel filtered (BPF) or Python did (lfilter path)

    def packets(self) -> list[Any]:
        """The frames dissected by scapy, with their capture times."""
        import scapy.layers.inet  # noqa: F401  (registers the link types)
        import scapy.layers.inet6  # noqa: F401
        from scapy.config import conf

        layer = conf.l2types.num2layer.get(self.linktype, conf.raw_layer)
        packets = []
        for ts, frame in self.frames:
            pkt = layer(frame)
            pkt.time = ts
            packets.append(pkt)
        return packets

    def write_pcap(self, path: str) -> None:
        """A standard pcap file (Wireshark, tshark, tcpdump -r read it)."""
        from scapy.config import conf
        from scapy.utils import PcapWriter

        with PcapWriter(path, linktype=self.linktype, snaplen=SNAPLEN, sync=False) as writer:
            for ts, frame in self.frames:
                pkt = conf.raw_layer(frame)
                pkt.time = ts
                writer.write(pkt)


def _port_matches(frame: bytes, port: int) -> bool:
    """The lfilter path: is this Ethernet frame TCP to or from ``port``? (no scapy)"""
    if len(frame) < 14:
        return False
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == ETH_P_IP and len(frame) >= 34:
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 6:
            return False
        at = 14 + ihl
    elif ethertype == ETH_P_IPV6 and len(frame) >= 54:
        if frame[20] != 6:
            return False
        at = 54
    else:
        return False
    if len(frame) < at + 4:
        return False
    sport, dport = struct.unpack_from("!HH", frame, at)
    return port in (sport, dport)


def _raw_listen_socket(iface: str, port: int) -> tuple[Any, bool]:
    """A scapy listen socket that hands back raw frames; (socket, BPF in use)."""
    import scapy.arch.common as arch_common
    import scapy.layers.inet  # noqa: F401  registers Ether for lo's link type, IP, TCP
    import scapy.layers.inet6  # noqa: F401
    from scapy.arch.linux import L2ListenSocket
    from scapy.config import conf
    from scapy.error import Scapy_Exception

    class RawFrameSocket(L2ListenSocket):
        """Returns each frame undissected; drops the outgoing copy of loopback frames."""

        lfilter_port: int | None = None
        frames_seen = 0

        def recv(self, x: int = SNAPLEN, **kwargs: Any) -> Any:
            frame, sa_ll, ts = self._recv_raw(self.ins, SNAPLEN)
            if not frame or sa_ll[2] == PACKET_OUTGOING:
                return None
            if self.lfilter_port is not None and not _port_matches(frame, self.lfilter_port):
                return None
            if ts is None:
                from scapy.arch.linux import get_last_packet_timestamp

                ts = get_last_packet_timestamp(self.ins)
            self.frames_seen += 1
            pkt = conf.raw_layer(frame)
            pkt.time = ts
            return pkt

    conf.bufsize = BUFSIZE
    # compile_filter opens a dead pcap handle with scapy's MTU as snap length, and the
    # BPF program returns that length: frames past 65,535 bytes would be cut.
    saved_mtu = arch_common.MTU
    arch_common.MTU = SNAPLEN
    try:
        try:
            return RawFrameSocket(iface=iface, filter=f"inbound and tcp port {port}"), True
        except Scapy_Exception:
            sock = RawFrameSocket(iface=iface)  # no libpcap: filter in Python
            sock.lfilter_port = port
            return sock, False
    finally:
        arch_common.MTU = saved_mtu


class LoopbackSniffer:
    """Capture TCP on one port of ``lo``: start (waits until live), drain, stop."""

    def __init__(self, port: int, iface: str = "lo") -> None:
        self.port = port
        self.iface = iface
        self._socket: Any = None
        self._sniffer: Any = None
        self.bpf = False

    def start(self) -> None:
        """Open the packet socket and wait (bounded) until the sniffer is live."""
        from scapy.sendrecv import AsyncSniffer

        try:
            self._socket, self.bpf = _raw_listen_socket(self.iface, self.port)
        except PermissionError as exc:
            raise CaptureUnavailable(f"cannot open a packet socket: {exc.strerror}\n{UNPRIVILEGED_HELP}") from None
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EACCES):
                raise CaptureUnavailable(f"cannot open a packet socket: {exc.strerror}\n{UNPRIVILEGED_HELP}") from None
            raise CaptureUnavailable(f"cannot capture on {self.iface}: {exc}") from None
        started = threading.Event()
        self._sniffer = AsyncSniffer(opened_socket=self._socket, store=True,
                                     started_callback=started.set)
        self._sniffer.start()
        if not started.wait(START_SECONDS):
            self._close()
            raise CaptureUnavailable(f"the sniffer did not start within {START_SECONDS} s")

    def drain(self, quiet: float = QUIET_SECONDS, bound: float = DRAIN_SECONDS) -> None:
        """Wait until no frame has arrived for ``quiet`` seconds (at most ``bound``)."""
        deadline = time.monotonic() + bound
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = self._socket.frames_seen
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = count, now
            elif now - last_change >= quiet:
                return
            time.sleep(0.05)

    def stop(self) -> Capture:
        """Stop the sniffer and hand back its raw frames."""
        from scapy.config import conf

        results = self._sniffer.stop() if self._sniffer.running else self._sniffer.results
        linktype = conf.l2types.layer2num.get(self._socket.LL, 1)
        self._close()
        frames = [(float(p.time), bytes(p)) for p in (results or [])]
        return Capture(frames, linktype, self.bpf)

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close()


def can_capture() -> bool:
    """True when this process may open a packet socket (root or CAP_NET_RAW)."""
    try:
        probe = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except (PermissionError, OSError):
        return False
    probe.close()
    return True
