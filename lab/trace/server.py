"""Start the lab as a subprocess on 127.0.0.1 port 0 and stop it by its PID.

`lab serve` prints exactly one line, ``listening on http://HOST:PORT (io=..., app=...)``,
when it accepts connections (ARCHITECTURE.md): that line is the readiness signal and
carries the port the kernel picked.

The lab gets a fresh ``--data-dir`` in a temporary directory, removed when it stops:
a trace's uploads (the `chunked` and `upload` scenarios) never land in the user's
working directory.

``LAB_TRACE_SERVER`` may hold another command to trace instead (a template with
``{app}``, ``{io}``, ``{python}`` and ``{data_dir}``), as long as it prints the same line.
"""

from __future__ import annotations

import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

__all__ = ["LabServer", "ServerError", "start_lab"]

READY = re.compile(r"listening on http://(?P<host>[^:/\s]+):(?P<port>\d+)")
START_SECONDS = 15.0
STOP_SECONDS = 5.0


class ServerError(Exception):
    """The lab did not start (message says why, with its stderr)."""


@dataclass
class LabServer:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    data_dir: str | None = None  # ours: removed on stop

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def stop(self) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL if it is still there."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_SECONDS)
        if self.process.stdout:
            self.process.stdout.close()
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def __enter__(self) -> LabServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_command(app: str, io: str, data_dir: str) -> list[str]:
    template = os.environ.get("LAB_TRACE_SERVER")
    if template:
        return shlex.split(template.format(app=app, io=io, python=sys.executable, data_dir=data_dir))
    return [sys.executable, "-m", "lab", "serve", "--app", app, "--io", io,
            "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir]


def start_lab(app: str, io: str, cwd: str | None = None) -> LabServer:
    """Run the lab and wait (bounded) for its readiness line."""
    data_dir = tempfile.mkdtemp(prefix="lab-trace-")
    command = server_command(app, io, data_dir)
    # stderr goes to a file: a pipe nobody reads would block a chatty server.
    errors = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors,
                                   stdin=subprocess.DEVNULL, cwd=cwd)
    except OSError as exc:
        errors.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        raise ServerError(f"cannot run {command[0]}: {exc.strerror}") from None
    assert process.stdout is not None
    deadline = time.monotonic() + START_SECONDS
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"\n" not in line and time.monotonic() < deadline:
            if selector.select(max(0.0, deadline - time.monotonic())):
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                line += chunk
    match = READY.search(line.decode("utf-8", "replace"))
    if match is None:
        server = LabServer(process, "127.0.0.1", 0, data_dir)
        server.stop()
        errors.seek(0)
        stderr = errors.read().decode("utf-8", "replace")
        errors.close()
        raise ServerError(
            f"`{' '.join(command[1:] if command[0] == sys.executable else command)}` did not print "
            f"its 'listening on' line (exit code {process.returncode}).\n{_tail(stderr)}"
        )
    errors.close()  # the child keeps its own descriptor
    return LabServer(process, match["host"], int(match["port"]), data_dir)


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
