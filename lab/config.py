"""Options every I/O model shares, with safe defaults and where each number comes from."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from protocols.http1 import Limits

__all__ = ["ServerConfig", "IO_MODELS", "APPS"]

IO_MODELS = ("blocking", "threads", "pool", "epoll", "asyncio", "uvloop")
APPS = ("lab", "echo", "hello")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    io: str = "epoll"
    app: str = "lab"
    # pool: worker threads. Each waiting long poll or stream holds one (the lesson).
    workers: int = 16
    limits: Limits = field(default_factory=Limits)
    # A request head must arrive whole within this many seconds, else 408 (slowloris).
    header_timeout: float = 10.0
    # An idle keep-alive connection is closed after this (nginx: 75 s; Node: 5 s).
    keepalive_timeout: float = 30.0
    # A client that stops reading may hold this much unsent data before it is dropped,
    # counted when more output (a stream) is added to what it has not taken yet; one
    # answer, however large, waits for it (until the keep-alive timeout).
    max_send_buffer: int = 1 << 20
    # On SIGTERM/SIGINT, in-flight responses get this long to finish.
    shutdown_grace: float = 5.0
    data_dir: Path = Path("data")
    # Bodies streamed to disk (uploads, tus `Tus-Max-Size`) may be this large; bodies an
    # app holds in memory stay within limits.max_body. 1 GiB: far past any lab exercise.
    max_upload: int = 1 << 30
    sse_heartbeat: float = 15.0
    # listen(2) backlog: room for the bursts the idle-connections benchmark makes.
    backlog: int = 4096
