"""Process and port helpers for the local services: pid files, liveness, clean stop, free ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    """First line of a pid file as an int (PostgreSQL's postmaster.pid has the pid there too)."""
    try:
        first = pid_file.read_text().splitlines()[0].strip()
        return int(first)
    except (OSError, IndexError, ValueError):
        return None


def process_alive(pid: int, cmdline_marker: str = "") -> bool:
    """True when `pid` runs (not a zombie) and its command line contains `cmdline_marker`.

    The marker guards against a recycled pid belonging to an unrelated process.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                return False
            if cmdline_marker:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                return cmdline_marker in cmdline
        except (OSError, IndexError):
            return False
    return True


def stop_process(pid: int, first_signal: int = signal.SIGTERM, timeout_s: float = 30.0) -> str:
    """Send `first_signal`, wait up to `timeout_s` for the process to exit, then SIGKILL.

    Returns "stopped", "killed" or "not running".
    """
    try:
        os.kill(pid, first_signal)
    except ProcessLookupError:
        return "not running"
    if wait_until(lambda: not process_alive(pid), timeout_s):
        return "stopped"
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not process_alive(pid), 10.0)
    return "killed"


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll `predicate` until it is true or `timeout_s` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(preferred: int, host: str = "127.0.0.1", avoid: Iterable[int] = ()) -> int:
    """`preferred` when free, else a free port chosen by the OS (never one in `avoid`)."""
    avoided = set(avoid)
    if preferred not in avoided and port_free(preferred, host):
        return preferred
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in avoided:
            return port
    raise RuntimeError(f"no free TCP port found on {host}")


def log_tail(path: Path, lines: int = 30) -> str:
    """Last `lines` lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
