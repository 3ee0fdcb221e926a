"""Sandbox trampoline: the first thing that runs in a grading subprocess.

It runs with ``python -I -S`` so it imports nothing from the submission, applies the
run's confinement in the one order that works, then ``execve``s the real command:

1. join the run's cgroup (pids controller): must happen while still root, and every
   descendant inherits it, including ones that double-fork or call setsid();
2. leave the host network: a fresh network namespace holds only ``lo`` (brought up
   here), so student code can talk to 127.0.0.1 and nothing else;
3. set rlimits (CPU, address space, open files, processes, file size);
4. drop privileges (root only): setgroups([]), setgid, setuid to the run user;
5. ask for SIGKILL when the grader dies (PR_SET_PDEATHSIG; set after the uid change,
   which would clear it), so a grader killed with SIGKILL takes its run along. What the
   run forked in the meantime stays in the run's cgroup, which the next grader sweeps.

Any failure here is the grader's, not the student's: exit status 125 and one line on
stderr starting with ``sandbox-setup:``; the sandbox reports it as ``grader_error``.
"""
import json
import os
import resource
import sys

SETUP_FAILED = 125

_LIMITS = {
    "cpu": resource.RLIMIT_CPU,
    "as": resource.RLIMIT_AS,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "core": resource.RLIMIT_CORE,
}


def _loopback_only() -> None:
    import ctypes
    import fcntl
    import socket
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNET = 0x40000000
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    # A new network namespace has `lo` down: SIOCGIFFLAGS / SIOCSIFFLAGS |= IFF_UP.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, ifr))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 0x1))


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        if spec.get("cgroup"):
            with open(os.path.join(spec["cgroup"], "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        if spec.get("netns"):
            _loopback_only()
        for name, value in spec.get("rlimits", {}).items():
            soft, hard = value
            resource.setrlimit(_LIMITS[name], (soft, hard))
        if spec.get("uid") is not None:
            os.setgroups([])
            os.setgid(spec["gid"])
            os.setuid(spec["uid"])
        # After the uid change (which clears it): if the grader dies, so does this run.
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, 9)
        if os.getppid() != spec.get("grader_pid", os.getppid()):
            os._exit(SETUP_FAILED)  # the grader died before prctl took effect
        os.chdir(spec["cwd"])
        if spec.get("channel_fd") is not None:
            # The harness's private result channel is fd 3 in the child.
            if spec["channel_fd"] != 3:
                os.dup2(spec["channel_fd"], 3, inheritable=True)
                os.close(spec["channel_fd"])
            else:
                os.set_inheritable(3, True)
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        sys.stderr.write(f"sandbox-setup: {type(exc).__name__}: {exc}\n")
        sys.stderr.flush()
        os._exit(SETUP_FAILED)
    argv = spec["argv"]
    os.execve(argv[0], argv, spec["env"])


if __name__ == "__main__":
    main()
