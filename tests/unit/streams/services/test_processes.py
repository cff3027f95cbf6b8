"""Ports, pid files and process stopping (uses only throwaway local sockets and a `sleep` child)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from streams.services.processes import pick_port, port_free, process_alive, read_pid, stop_process


def test_pick_port_avoids_a_taken_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_free(port)
        chosen = pick_port(port)
        assert chosen != port
        assert port_free(chosen)


def test_read_pid(tmp_path: Path) -> None:
    (tmp_path / "ok.pid").write_text("1234\n/data\n")
    (tmp_path / "bad.pid").write_text("not a pid\n")
    assert read_pid(tmp_path / "ok.pid") == 1234
    assert read_pid(tmp_path / "bad.pid") is None
    assert read_pid(tmp_path / "missing.pid") is None


def test_stop_process_escalates_to_kill_when_term_is_ignored() -> None:
    ignore_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(1, flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", ignore_term], stdout=subprocess.PIPE)
    assert child.stdout is not None
    child.stdout.readline()  # the handler is installed
    assert process_alive(child.pid, "signal.SIG_IGN")
    assert not process_alive(child.pid, "some-other-program")

    assert stop_process(child.pid, first_signal=signal.SIGTERM, timeout_s=0.5) == "killed"
    assert child.wait(5) == -signal.SIGKILL


def test_stop_process_plain_term() -> None:
    child = subprocess.Popen(["sleep", "60"])
    assert stop_process(child.pid, timeout_s=10) == "stopped"
    assert child.wait(5) == -signal.SIGTERM
