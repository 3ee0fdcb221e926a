"""The servers people pick instead of the lab, started only when installed.

| peer | what it is |
|---|---|
| `uvicorn-httptools` | uvicorn, httptools parser, uvloop: the fast ASGI path |
| `uvicorn-h11` | uvicorn, h11 parser, asyncio loop: the pure-Python path |
| `aiohttp` | aiohttp's web server (its own C parser) |
| `stdlib-threading` | `http.server.ThreadingHTTPServer` as shipped (Nagle left on) |
| `stdlib-threading-nodelay` | the same with `disable_nagle_algorithm = True` |
| `nginx` | `return 200`, one worker: the machine's ceiling (and wrk's) |
| `naive-selectors` | no HTTP: a selectors loop writing a canned answer per CRLFCRLF |
| `naive-streams-asyncio` | the same on asyncio streams, the standard loop |
| `naive-streams-uvloop` | the same on asyncio streams, uvloop |
| `callbacks-asyncio` | the lab's HTTP core on `asyncio.Protocol` callbacks, not streams |
| `callbacks-uvloop` | the same on uvloop |

The three `naive-*` are the floor under any Python server on that loop: what the loop
and its syscalls cost with no parsing, no app and no response building. The lab's
`epoll`, `asyncio` and `uvloop` are these loops plus a strict HTTP/1.1 core. The two
`callbacks-*` run that same core (`lab.connection.Connection`) with `data_received`
instead of `await reader.read()`, and none of a lab model's timeouts, backpressure or
wake-ups: the difference to `asyncio` and `uvloop` is what streams cost.

Absolute figures drift with the machine and its load; the ratios between servers
measured in the same run do not, which is why the report gives both.
`python -m lab.bench.peers --install` (`make bench-peers`) installs what is missing:
the Python packages into the running interpreter's environment, and nginx and wrk
with apt-get when run as root.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable

from .servers import ServerSpec, free_port

__all__ = ["Peer", "PEERS", "missing", "install"]

PIP_PACKAGES = ["uvicorn", "httptools", "uvloop", "h11", "aiohttp"]
APT_PACKAGES = ["nginx", "wrk"]


@dataclass(frozen=True)
class Peer:
    name: str
    needs: tuple[str, ...]  # Python modules, or "bin:NAME" for a program on PATH
    spec: Callable[[], ServerSpec]

    def missing(self) -> list[str]:
        return missing(self.needs)


def missing(needs: tuple[str, ...]) -> list[str]:
    gone = []
    for need in needs:
        if need.startswith("bin:"):
            if shutil.which(need[4:]) is None:
                gone.append(need[4:])
        elif importlib.util.find_spec(need) is None:
            gone.append(need)
    return gone


def _python_peer(name: str) -> Callable[[], ServerSpec]:
    return lambda: ServerSpec(name=name, kind="peer",
                              argv=[sys.executable, "-m", "lab.bench.peer_apps", name])


NGINX_CONF = """\
# Written by lab.bench.peers: one process, no logs, a fixed answer.
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    keepalive_requests 1000000;  # default 1000: wrk would reconnect every 1000 requests
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
"""


def _nginx_spec() -> ServerSpec:
    workdir = tempfile.mkdtemp(prefix="lab-bench-nginx-")
    port = free_port()
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=workdir, port=port))
    nginx = shutil.which("nginx") or "nginx"
    return ServerSpec(name="nginx", kind="peer", argv=[nginx, "-p", workdir, "-c", conf, "-e", "stderr"],
                      port=port, cleanup=(workdir,))


PEERS: dict[str, Peer] = {
    p.name: p
    for p in [
        Peer("uvicorn-httptools", ("uvicorn", "httptools", "uvloop"), _python_peer("uvicorn-httptools")),
        Peer("uvicorn-h11", ("uvicorn", "h11"), _python_peer("uvicorn-h11")),
        Peer("aiohttp", ("aiohttp",), _python_peer("aiohttp")),
        Peer("stdlib-threading", (), _python_peer("stdlib-threading")),
        Peer("stdlib-threading-nodelay", (), _python_peer("stdlib-threading-nodelay")),
        Peer("nginx", ("bin:nginx",), _nginx_spec),
        Peer("naive-selectors", (), _python_peer("naive-selectors")),
        Peer("naive-streams-asyncio", (), _python_peer("naive-streams-asyncio")),
        Peer("naive-streams-uvloop", ("uvloop",), _python_peer("naive-streams-uvloop")),
        Peer("callbacks-asyncio", (), _python_peer("callbacks-asyncio")),
        Peer("callbacks-uvloop", ("uvloop",), _python_peer("callbacks-uvloop")),
    ]
}


def install() -> int:
    """pip-install the Python peers into this interpreter; apt-get nginx and wrk as root."""
    code = subprocess.call([sys.executable, "-m", "pip", "install", "-q", *PIP_PACKAGES])
    need_apt = [p for p in APT_PACKAGES if shutil.which(p) is None]
    if need_apt:
        if os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.call(["apt-get", "update", "-qq"], env=env)
            code |= subprocess.call(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need_apt],
                                    env=env)
        else:
            print(f"not root (or no apt-get): install {' '.join(need_apt)} yourself", file=sys.stderr)
    for peer in PEERS.values():
        gone = peer.missing()
        print(f"  {peer.name:26} {'missing: ' + ', '.join(gone) if gone else 'ready'}")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench.peers", description="list or install the peers")
    parser.add_argument("--install", action="store_true", help="install what is missing (pip; apt-get as root)")
    args = parser.parse_args(argv)
    if args.install:
        return install()
    for peer in PEERS.values():
        gone = peer.missing()
        print(f"  {peer.name:26} {'missing: ' + ', '.join(gone) if gone else 'ready'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
