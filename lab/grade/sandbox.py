"""Run untrusted student code in a subprocess, confined, and always clean up after it.

Student code is never imported into the grader. Each run is one subprocess started
through ``_trampoline.py`` (see its docstring for the order of the confinement steps):

- its own session and process group (``start_new_session``);
- every process it starts is tracked, in the strongest way this host allows:
  a per-run cgroup in the v1 ``pids`` hierarchy when ``/sys/fs/cgroup/pids`` is
  writable (descendants inherit it whatever they do: double fork, setsid, clearing
  their environment), and in every case a unique run token in the environment
  (``LAB_GRADE_RUN``) that ``/proc/PID/environ`` reveals;
- a process limit. RLIMIT_NPROC counts processes *per user* and is not enforced for
  root, so: with a cgroup, ``pids.max`` is the limit (enforced for root too, and
  ``pids.events`` tells us it was hit); without one, a watchdog thread counts the
  tokened processes every 50 ms and ends the run when there are too many. Either way
  the status is ``process_limit``;
- as root, the code runs as user ``nobody`` when the interpreter is reachable by
  ``nobody`` (a venv under /root usually is not: then it stays root, confined by the
  cgroup and the rlimits; ``Sandbox.isolation`` records which);
- rlimits on CPU seconds, address space, open files and file size;
- an environment allow-list, a fresh working directory, loopback-only networking (a
  private network namespace holding only ``lo``) when we may create one;
- stdout and stderr are captured, capped, and the cap is reported, never silent.

Teardown (``Sandbox.stop``): SIGTERM to the process group and every tracked process,
up to 2 s of grace, then SIGKILL to whatever is left, then wait until nothing tracked
remains. A run's outcome is a ``RunResult`` with a status, never an exception.
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SandboxLimits",
    "RunResult",
    "Sandbox",
    "run",
    "tracked_pids",
    "pids_by_token",
    "neutralize",
    "RUN_TOKEN_VAR",
]

RUN_TOKEN_VAR = "LAB_GRADE_RUN"
# Tokens of the runs this process started (newest last): the grader's tests assert
# that none of them has a process left.
RECENT_TOKENS: list[str] = []
# How the newest run was confined (user, process tracking, network), for the results.
LAST_ISOLATION: dict = {}
LAB_ROOT = Path(__file__).resolve().parents[2]
TRAMPOLINE = Path(__file__).resolve().with_name("_trampoline.py")
PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
# Grace between SIGTERM and SIGKILL: long enough for a server to close its sockets.
TERM_GRACE_SECONDS = 2.0
# Environment variables a submission may see from the grader's own environment.
ENV_ALLOW = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
SETUP_FAILED = 125


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one run. Defaults suit a parser or a small server."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    # 512 MiB of address space: CPython needs ~30 MiB; the machine has 24 GiB and is shared.
    memory_bytes: int = 512 * 1024 * 1024
    open_files: int = 256
    processes: int = 64
    file_size_bytes: int = 16 * 1024 * 1024
    # What we keep of each output stream; the rest is counted and reported.
    output_bytes: int = 64 * 1024


@dataclass
class RunResult:
    """What happened to one sandboxed run.

    status: ``ok`` (exited 0), ``crashed`` (non-zero exit or signal), ``timeout``,
    ``cpu_limit``, ``memory_limit``, ``process_limit`` or ``grader_error``.
    """

    status: str
    returncode: int | None
    stdout: bytes
    stderr: bytes
    stdout_total: int
    stderr_total: int
    duration: float
    message: str = ""
    channel: bytes = b""
    isolation: dict = field(default_factory=dict)

    @property
    def stdout_truncated(self) -> bool:
        return self.stdout_total > len(self.stdout)

    @property
    def stderr_truncated(self) -> bool:
        return self.stderr_total > len(self.stderr)


def neutralize(data: bytes | str, limit: int | None = None, total: int | None = None) -> str:
    """Text safe to print on a terminal: ANSI escapes and other control bytes are shown
    escaped (``\\x1b[31m``), never interpreted; a cap is reported in a visible note."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if limit is not None and len(text) > limit:
        text = text[:limit]
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "\n\t":
            out.append(ch)
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    result = "".join(out)
    shown = len(data) if limit is None else min(len(data), limit)
    if total is not None and total > shown:
        result += f"\n[... output truncated: {total:,} bytes in all, first {shown:,} shown ...]"
    return result


# --- tracking --------------------------------------------------------------------


def tracked_pids(token: str) -> list[int]:
    """Live processes whose environment carries this run token (zombies have none)."""
    return pids_by_token().get(token, [])


def pids_by_token() -> dict[str, list[int]]:
    """Every live process that carries a run token, by token: one pass over /proc, so
    checking a thousand runs for leftovers costs what checking one does."""
    prefix = f"{RUN_TOKEN_VAR}=".encode()
    found: dict[str, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if prefix not in env:
            continue
        for item in env.split(b"\0"):
            if item.startswith(prefix):
                found.setdefault(item[len(prefix):].decode(errors="replace"), []).append(int(entry))
                break
    return found


def sweep_stale_cgroups() -> list[str]:
    """Kill and remove the cgroups of graders that no longer run (killed with SIGKILL
    mid-run). A cgroup is named ``lab-grade-<grader pid>-<token>``."""
    swept = []
    try:
        entries = list(PIDS_CGROUP_ROOT.glob("lab-grade-*-*"))
    except OSError:
        return swept
    for path in entries:
        try:
            owner = int(path.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if owner == os.getpid() or Path(f"/proc/{owner}").exists():
            continue
        for _ in range(50):
            pids = _cgroup_pids(path)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        _remove_cgroup(path)
        swept.append(path.name)
    return swept


_swept_once = False


def _make_cgroup(token: str, max_pids: int) -> Path | None:
    global _swept_once
    if not _swept_once:
        _swept_once = True
        sweep_stale_cgroups()
    try:
        path = PIDS_CGROUP_ROOT / f"lab-grade-{os.getpid()}-{token}"
        path.mkdir()
    except OSError:
        return None
    try:
        (path / "pids.max").write_text(str(max_pids))
    except OSError:
        _remove_cgroup(path)
        return None
    return path


def _cgroup_pids(path: Path) -> list[int]:
    try:
        text = (path / "cgroup.procs").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _cgroup_hit_max(path: Path) -> bool:
    try:
        for line in (path / "pids.events").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "max" and int(value) > 0:
                return True
    except OSError:
        pass
    return False


def _remove_cgroup(path: Path) -> None:
    for _ in range(100):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def _reachable_by_other(path: str, executable: bool = False) -> bool:
    """True when every directory on the way is o+x and the path is o+r (o+rx for a
    directory or an ``executable``)."""
    p = Path(path).resolve()
    if not p.exists():
        return False
    for parent in reversed(p.parents):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    mode = os.stat(p).st_mode
    need_x = executable or stat.S_ISDIR(mode)
    return bool(mode & stat.S_IROTH and (mode & stat.S_IXOTH or not need_x))


def pick_python(run_as_nobody: bool) -> str:
    """The interpreter for student code: ours, or a same-version system one that
    ``nobody`` can execute when ours lives somewhere it cannot reach (e.g. /root)."""
    if not run_as_nobody or _reachable_by_other(sys.executable, executable=True):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.path.exists(candidate) and _reachable_by_other(candidate, executable=True):
            return candidate
    return ""


# --- one run ---------------------------------------------------------------------


class _Capture(threading.Thread):
    """Drain one pipe to the end, keeping the first ``cap`` bytes and a total count."""

    def __init__(self, fd: int, cap: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.cap = fd, cap
        self.kept = bytearray()
        self.total = 0

    def run(self) -> None:
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.total += len(chunk)
                room = self.cap - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
        except OSError:
            pass
        finally:
            os.close(self.fd)


class Sandbox:
    """One confined subprocess. Use ``run()`` for the common case.

    ``argv`` runs with the sandbox's Python when its first element is ``"python"``.
    The child gets fd 3 as an extra write-only channel (``LAB_GRADE_CHANNEL_FD``),
    so a harness can report results without sharing stdout with student prints.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        workdir: Path,
        limits: SandboxLimits = SandboxLimits(),
        env: dict[str, str] | None = None,
        network: bool = False,
        drop_privileges: bool | None = None,
    ) -> None:
        self.limits = limits
        self.workdir = Path(workdir)
        self.token = secrets.token_hex(8)
        RECENT_TOKENS.append(self.token)
        del RECENT_TOKENS[:-1000]
        self.is_root = os.geteuid() == 0
        want_nobody = self.is_root if drop_privileges is None else drop_privileges
        # `nobody` must be able to read the code it runs (the lab, the harness): a lab
        # unpacked under a private directory (e.g. pytest's tmp, /root) keeps the run as
        # ourselves, confined by the cgroup and rlimits only.
        code_paths = [str(LAB_ROOT), *(env or {}).get("PYTHONPATH", "").split(os.pathsep)]
        code_paths += [a for a in argv if a.endswith(".py") and os.path.exists(a)]
        if want_nobody and not all(_reachable_by_other(p) for p in code_paths if p):
            want_nobody = False
        python = pick_python(want_nobody)
        if want_nobody and not python:
            want_nobody, python = False, sys.executable
        self.python = python
        self.user = pwd.getpwnam("nobody") if want_nobody else None
        self.cgroup = _make_cgroup(self.token, limits.processes)
        self.netns = self.is_root and not network
        self.isolation = {
            "user": "nobody" if self.user else pwd.getpwuid(os.geteuid()).pw_name,
            "processes": "cgroup pids.max" if self.cgroup else "watchdog on run token",
            "network": "private netns, lo only" if self.netns else "host (not confined)",
        }
        LAST_ISOLATION.clear()
        LAST_ISOLATION.update(self.isolation)
        self.argv = [python if a == "python" else a for a in argv]
        self.env = self._environment(env or {})
        self.proc: subprocess.Popen | None = None
        self.process_limit_hit = False
        self.nproc_limited = False
        self._watchdog_stop = threading.Event()

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
        env.update(
            PATH="/usr/local/bin:/usr/bin:/bin",
            HOME=str(self.workdir),
            TMPDIR=str(self.workdir),
            PYTHONPATH=str(LAB_ROOT),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
            PYTHONIOENCODING="utf-8",
            LAB_GRADE_CHANNEL_FD="3",
        )
        env.update(extra)
        env[RUN_TOKEN_VAR] = self.token
        return env

    def _spec(self, channel_fd: int) -> dict:
        lim = self.limits
        rlimits = {
            "cpu": [lim.cpu_seconds, lim.cpu_seconds + 1],
            "as": [lim.memory_bytes, lim.memory_bytes],
            "nofile": [lim.open_files, lim.open_files],
            "fsize": [lim.file_size_bytes, lim.file_size_bytes],
            "core": [0, 0],
        }
        if not self.cgroup and self.user is not None:
            # Per-user: only meaningful as nobody. Headroom for nobody's other processes.
            others = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _uid(p) == self.user.pw_uid)
            rlimits["nproc"] = [lim.processes + others, lim.processes + others]
            self.nproc_limited = True
        return {
            "cgroup": str(self.cgroup) if self.cgroup else None,
            "netns": self.netns,
            "rlimits": rlimits,
            "uid": self.user.pw_uid if self.user else None,
            "gid": self.user.pw_gid if self.user else None,
            "cwd": str(self.workdir),
            "channel_fd": channel_fd,
            "grader_pid": os.getpid(),
            "argv": self.argv,
            "env": self.env,
        }

    # -- lifecycle --

    def start(self, stdin: bytes = b"") -> None:
        if self.user is not None:
            os.chown(self.workdir, self.user.pw_uid, self.user.pw_gid)
        chan_r, chan_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        # The trampoline moves the channel to fd 3 before exec.
        self.proc = subprocess.Popen(
            [self.python, "-I", "-S", str(TRAMPOLINE), json.dumps(self._spec(chan_w))],
            stdin=in_r,
            stdout=out_w,
            stderr=err_w,
            pass_fds=(chan_w,),
            start_new_session=True,
            close_fds=True,
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
        )
        for fd in (chan_w, out_w, err_w, in_r):
            os.close(fd)
        self.started = time.monotonic()
        self._out = _Capture(out_r, self.limits.output_bytes)
        self._err = _Capture(err_r, self.limits.output_bytes)
        self._chan = _Capture(chan_r, 16 * 1024 * 1024)
        for t in (self._out, self._err, self._chan):
            t.start()
        threading.Thread(target=self._feed, args=(in_w, stdin), daemon=True).start()
        threading.Thread(target=self._watchdog, daemon=True).start()

    @staticmethod
    def _feed(fd: int, data: bytes) -> None:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        except OSError:
            pass
        finally:
            os.close(fd)

    def _watchdog(self) -> None:
        while not self._watchdog_stop.wait(0.05):
            if self.cgroup:
                if _cgroup_hit_max(self.cgroup):
                    self.process_limit_hit = True
                    self._signal_all(signal.SIGKILL)
                    return
            elif len(tracked_pids(self.token)) > self.limits.processes:
                self.process_limit_hit = True
                self._signal_all(signal.SIGKILL)
                return

    def pids(self) -> list[int]:
        found = set(tracked_pids(self.token))
        if self.cgroup:
            found.update(_cgroup_pids(self.cgroup))
        return sorted(found)

    def _signal_all(self, sig: int) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except OSError:
                pass

    def stop(self) -> None:
        """SIGTERM everything tracked, 2 s of grace, SIGKILL, wait until gone."""
        self._watchdog_stop.set()
        if self.proc is None:
            return
        if self.proc.poll() is None or self.pids():
            self._signal_all(signal.SIGTERM)
            deadline = time.monotonic() + TERM_GRACE_SECONDS
            while time.monotonic() < deadline:
                self.proc.poll()
                if self.proc.returncode is not None and not self.pids():
                    break
                time.sleep(0.02)
        for _ in range(250):
            self.proc.poll()
            if self.proc.returncode is not None and not self.pids():
                break
            self._signal_all(signal.SIGKILL)
            time.sleep(0.02)
        self.proc.wait()
        if self.cgroup:
            # The run may have hit pids.max and exited between two watchdog polls.
            if _cgroup_hit_max(self.cgroup):
                self.process_limit_hit = True
            _remove_cgroup(self.cgroup)

    def wait(self, timeout: float | None = None) -> RunResult:
        """Wait for exit (or the wall limit), tear down, and classify the outcome."""
        assert self.proc is not None
        timeout = self.limits.wall_seconds if timeout is None else timeout
        timed_out = False
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        duration = time.monotonic() - self.started
        self.stop()
        for t in (self._out, self._err, self._chan):
            t.join(timeout=5)
        return self._classify(timed_out, duration)

    def _classify(self, timed_out: bool, duration: float) -> RunResult:
        rc = self.proc.returncode if self.proc else None
        err = bytes(self._err.kept)
        status, message = "ok", ""
        if rc == SETUP_FAILED and err.startswith(b"sandbox-setup:"):
            status, message = "grader_error", err.decode("utf-8", "replace").strip()
        elif self.process_limit_hit or (
            # RLIMIT_NPROC (no cgroup, run as nobody): fork() fails with EAGAIN.
            self.nproc_limited and rc != 0 and b"BlockingIOError: [Errno 11]" in err
        ):
            status = "process_limit"
            message = f"more than {self.limits.processes} processes: the run was stopped; a fork bomb?"
        elif timed_out:
            status = "timeout"
            message = f"still running after {self.limits.wall_seconds:g} s: stopped (SIGTERM, then SIGKILL)"
        elif rc is not None and rc in (-signal.SIGXCPU, -signal.SIGKILL) and duration >= self.limits.cpu_seconds * 0.9:
            status = "cpu_limit"
            message = f"used more than {self.limits.cpu_seconds} s of CPU time"
        elif b"MemoryError" in err or (rc == -signal.SIGKILL and b"Cannot allocate memory" in err):
            status = "memory_limit"
            message = f"ran out of memory: the limit is {self.limits.memory_bytes // 2**20} MiB of address space"
        elif rc != 0:
            status = "crashed"
            if rc is not None and rc < 0:
                try:
                    message = f"killed by signal {signal.Signals(-rc).name}"
                except ValueError:
                    message = f"killed by signal {-rc}"
            else:
                message = f"exited with status {rc}"
        return RunResult(
            status=status,
            returncode=rc,
            stdout=bytes(self._out.kept),
            stderr=err,
            stdout_total=self._out.total,
            stderr_total=self._err.total,
            duration=duration,
            message=message,
            channel=bytes(self._chan.kept),
            isolation=self.isolation,
        )


def _uid(proc_dir: Path) -> int:
    try:
        return proc_dir.stat().st_uid
    except OSError:
        return -1


def run(
    argv: list[str],
    *,
    workdir: Path,
    limits: SandboxLimits = SandboxLimits(),
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    network: bool = False,
) -> RunResult:
    """Run ``argv`` confined, feed ``stdin``, wait, tear down, classify. Never raises
    for anything the child does."""
    box = Sandbox(argv, workdir=workdir, limits=limits, env=env, network=network)
    try:
        box.start(stdin)
    except OSError as exc:
        box.stop()
        return RunResult("grader_error", None, b"", b"", 0, 0, 0.0, f"could not start: {exc}")
    return box.wait()
