"""One benchmark run's shared machinery: CPUs, fd limit, progress line, measuring a load.

A scenario asks the `Bench` to start a server, put a load on it, hold idle connections
or probe it; the `Bench` decides which tool generates the load (wrk when installed, the
lab's loadgen otherwise), pins it to a CPU the server does not use, and reads the
server's /proc counters at the start and the end of the measured window, so that
"server CPU seconds" covers exactly the requests counted.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, TextIO

from . import procstats, wrk
from .servers import RunningServer, ServerSpec, ServerStartError, child_env, get

__all__ = ["Bench", "Progress", "LoadError", "Stepped", "raise_fd_limit", "split_cpus"]


class LoadError(Exception):
    """The load generator failed; the message goes into the table."""


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one (children inherit it): (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def split_cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, load CPUs): the first allowed CPU for the server, the rest for load."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


class Progress:
    """One live line on stderr: what runs now and for how long. Plain lines when not a tty."""

    def __init__(self, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.live = enabled and stream.isatty()
        self._text = ""
        self._started = 0.0
        self._expected: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if self.live:
            threading.Thread(target=self._tick, daemon=True).start()

    def set(self, text: str, expected: float | None = None) -> None:
        with self._lock:
            self._text, self._started, self._expected = text, time.monotonic(), expected
            if self.live:
                self._draw()
            elif self.enabled:
                print(text, file=self.stream, flush=True)

    def say(self, text: str) -> None:
        """A permanent line (a note for the user), above the live line."""
        with self._lock:
            if self.live:
                self.stream.write("\r\x1b[K")
            if self.enabled:
                print(text, file=self.stream, flush=True)
            if self.live and self._text:
                self._draw()

    def clear(self) -> None:
        """Nothing runs now: erase the live line."""
        with self._lock:
            self._text = ""
            if self.live:
                self.stream.write("\r\x1b[K")
                self.stream.flush()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self.live:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._text = ""

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._started
        timer = f"{elapsed:4.1f}s" + (f"/{self._expected:.0f}s" if self._expected else "")
        self.stream.write(f"\r\x1b[K{self._text}  {timer}")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                if self._text:
                    self._draw()


@dataclass
class Bench:
    """Settings of one run and the tools it uses. Scenarios receive it."""

    ios: list[str]
    quick: bool = False
    duration: float | None = None  # seconds per measurement; None = the scenario's default
    peers: bool = True
    serve_cmd: list[str] | None = None
    use_wrk: bool = True
    progress: Progress = field(default_factory=lambda: Progress(enabled=False))
    notes: list[str] = field(default_factory=list)
    ios_given: bool = True  # False: `ios` is every model because --io was not given

    def __post_init__(self) -> None:
        self.server_cpus, self.load_cpus = split_cpus()
        self.fd_soft, self.fd_hard = raise_fd_limit()
        self.wrk_path = wrk.find_wrk() if self.use_wrk else None

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            self.progress.say("note: " + text)

    def models(self, default: list[str]) -> list[str]:
        """The models a scenario runs: those asked for with --io, else its own `default`."""
        return list(self.ios) if self.ios_given else [io for io in default if io in self.ios]

    def seconds(self, full: float, quick: float) -> float:
        return self.duration if self.duration is not None else (quick if self.quick else full)

    # ------------------------------------------------------------------ servers

    def start(self, spec: ServerSpec, check_path: str | None = "/") -> RunningServer:
        """Start `spec` on the server CPU; GET `check_path` once, which must answer 200."""
        server = RunningServer(spec, self.server_cpus)
        if check_path is None:
            return server
        try:
            status = get(server.host, server.port, check_path, timeout=10)
        except Exception as exc:  # noqa: BLE001 - any failure here is the server's, reported as text
            server.stop()
            raise ServerStartError(f"GET {check_path} failed: {exc!r}") from None
        if status != 200:
            server.stop()
            raise ServerStartError(f"GET {check_path} answered {status}, not 200")
        return server

    # ------------------------------------------------------------------ loads

    def load(self, server: RunningServer, path: str, connections: int, duration: float,
             warmup: float = 1.0, timeout: float = 2.0) -> dict:
        """Closed-loop keep-alive load; figures of the load plus the server's cost."""
        if self.wrk_path:
            result = self._load_wrk(server, path, connections, duration, warmup, timeout)
        else:
            result = self._load_loadgen(server, path, connections, duration, warmup, timeout)
        result.update(result.pop("latency", {}))  # p50_ms, p99_ms, ... as columns of the row
        result["error_count"] = sum(result.get("errors", {}).values()) + result.get("stalled", 0)
        return result

    def _child(self, argv: list[str], **kw) -> subprocess.Popen:
        cpus = self.load_cpus

        def in_child() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        return subprocess.Popen(argv, preexec_fn=in_child, start_new_session=True, text=True,
                                env=child_env(), **kw)

    def _measured(self, server: RunningServer, before: procstats.ProcSample, result: dict) -> dict:
        try:
            after = procstats.sample(server.pid)
        except OSError:
            raise LoadError(f"server exited during the run (code {server.proc.poll()})") from None
        cpu = after.cpu_since(before)
        requests = result.get("requests") or 0
        result.update(
            cpu_s=cpu,
            cpu_util=round(cpu / result["duration_s"], 3) if result.get("duration_s") else None,
            cpu_us_per_req=round(cpu / requests * 1e6, 2) if requests else None,
            rss_kib=after.rss_kib, peak_rss_kib=after.peak_rss_kib, threads=after.threads,
        )
        return result

    def _load_wrk(self, server: RunningServer, path: str, connections: int, duration: float,
                  warmup: float, timeout: float) -> dict:
        url = f"http://{server.host}:{server.port}{path}"
        if warmup > 0:
            self._run_wrk(wrk.build_command(url, connections, warmup, timeout, wrk=self.wrk_path), warmup)
        before = procstats.sample(server.pid)
        out = self._run_wrk(wrk.build_command(url, connections, duration, timeout, wrk=self.wrk_path), duration)
        try:
            result = wrk.parse_output(out)
        except wrk.WrkError as exc:
            raise LoadError(str(exc).splitlines()[0]) from None
        return self._measured(server, before, result)

    def _run_wrk(self, argv: list[str], duration: float) -> str:
        proc = self._child(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=duration + 30)
        except subprocess.TimeoutExpired:
            raise LoadError("wrk did not finish") from None
        finally:  # also on Ctrl-C: never leave our wrk running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return out

    def _load_loadgen(self, server: RunningServer, path: str, connections: int, duration: float,
                      warmup: float, timeout: float) -> dict:
        argv = [sys.executable, "-m", "lab.bench.loadgen", "load", "--host", server.host,
                "--port", str(server.port), "--path", path, "--connections", str(connections),
                "--duration", str(duration), "--warmup", str(warmup), "--timeout", str(timeout)]
        proc = self._child(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        before = None
        result = None
        try:
            for line in proc.stdout:
                event = json.loads(line)
                if event["event"] == "measuring":
                    before = procstats.sample(server.pid)
                elif event["event"] == "result":
                    result = event
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if result is None or before is None:
            raise LoadError("loadgen failed: " + (proc.stderr.read().strip().splitlines() or ["no output"])[-1])
        result.pop("event", None)
        return self._measured(server, before, result)

    # ------------------------------------------------------------------ idle holders, probes

    @contextmanager
    def hold(self, server: RunningServer, path: str, count: int, setup_timeout: float) -> Iterator[dict]:
        """Hold `count` served, idle keep-alive connections open for the duration of the block."""
        argv = [sys.executable, "-m", "lab.bench.loadgen", "hold", "--host", server.host,
                "--port", str(server.port), "--path", path, "--count", str(count),
                "--timeout", str(setup_timeout)]
        proc = self._child(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = proc.stdout.readline()
            if not line:
                raise LoadError("idle holder failed: " + (proc.stderr.read().strip().splitlines() or ["?"])[-1])
            yield json.loads(line)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait()

    def probe(self, server: RunningServer, path: str, requests: int, timeout: float) -> dict:
        """A fresh client's requests, from the load CPU."""
        result = self.client(["lab.bench.loadgen", "probe", "--host", server.host, "--port", str(server.port),
                              "--path", path, "--requests", str(requests), "--timeout", str(timeout)],
                             timeout=timeout * 2 + 30)  # it stops at its first timeout
        result.pop("event", None)
        return result

    @contextmanager
    def stepped(self, module_argv: list[str]) -> Iterator[Stepped]:
        """`python -m MODULE ARGS` on the load CPU, driven in steps: read its JSON lines
        (`next_line`), answer on its stdin (`say`). Stopped (by PID) when the block ends.
        `lab.bench.sse_load` works this way, so the server's CPU is read between steps."""
        proc = self._child([sys.executable, "-m", *module_argv], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            yield Stepped(proc, module_argv[0])
        finally:
            if proc.poll() is None:
                try:
                    proc.stdin.close()  # "we are done": it closes its connections and exits
                    proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired):
                    proc.kill()
                    proc.wait()

    def client(self, module_argv: list[str], timeout: float) -> dict:
        """Run `python -m MODULE ARGS` on the load CPU; its last stdout line, as JSON.

        Any client that prints one JSON line fits: `lab.bench.loadgen probe`, or
        `lab.patterns.probe wakeup --port P --clients N` for a long-poll scenario."""
        proc = self._child([sys.executable, "-m", *module_argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise LoadError(f"{module_argv[0]} did not finish in {timeout:g}s") from None
        finally:  # also on Ctrl-C: never leave our client running
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines = out.strip().splitlines()
        if not lines:
            raise LoadError(f"{module_argv[0]} failed: " + (err.strip().splitlines() or ["no output"])[-1])
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            raise LoadError(f"{module_argv[0]} printed {lines[-1][:80]!r}, not JSON") from None


class Stepped:
    """A load process that prints JSON lines and reads commands on stdin (`Bench.stepped`)."""

    def __init__(self, proc: subprocess.Popen, name: str) -> None:
        self.proc = proc
        self.name = name
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_line(self, timeout: float) -> dict:
        """Its next JSON line; LoadError if it exits, prints no JSON or takes too long."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise LoadError(f"{self.name} said nothing for {timeout:g}s") from None
        if line is None:
            self.proc.wait()
            err = self.proc.stderr.read().strip().splitlines() or ["no output"]
            raise LoadError(f"{self.name} failed: {err[-1]}")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise LoadError(f"{self.name} printed {line[:80]!r}, not JSON") from None

    def say(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
