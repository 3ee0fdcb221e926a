"""Opening the listening socket, the same way for every I/O model."""
from __future__ import annotations

import errno
import resource
import socket

__all__ = ["open_listener", "raise_fd_limit", "tune", "OUT_OF_RESOURCES", "ACCEPT_RETRY_DELAY"]

# accept() errors that mean "not now" rather than "never": out of file descriptors
# (per process, system-wide) or kernel memory. The pending connection stays queued, so
# the listener stays readable: retrying at once spins. Wait a little instead (asyncio
# waits 1 s, libuv and nginx a few ms to 500 ms).
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_RETRY_DELAY = 0.1


def open_listener(host: str, port: int, backlog: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Let a restarted server bind while old connections sit in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def tune(sock: socket.socket) -> None:
    """Per accepted connection. Without TCP_NODELAY a response written in two pieces
    waits ~40 ms on loopback for the peer's delayed ACK (Nagle)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one; returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard
