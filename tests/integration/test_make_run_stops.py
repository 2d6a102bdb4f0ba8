"""`make run` (`autofunnel dev`) in a terminal, stopped with Ctrl-C: the terminal sends SIGINT to
its whole foreground process group, so DynamoDB Local must not be in it, or it dies before the
stream poller and the scheduler that still read it (a connection-refused traceback at every
stop). The stack stops in order, says so, and leaves no process behind."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import time
from pathlib import Path

import pytest

from autofunnel import devstack

AUTOFUNNEL = devstack.PROJECT_DIR / ".venv" / "bin" / "autofunnel"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_until(fd: int, needle: bytes, seconds: float, seen: bytearray) -> bool:
    deadline = time.monotonic() + seconds
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed: the process ended
                return needle in seen
            if not chunk:
                return needle in seen
            seen.extend(chunk)
    return needle in seen


def ended(pid: int, seconds: float) -> int | None:
    """The process's wait status once it has ended, None if it runs on past `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.1)
    return None


@pytest.mark.skipif(not AUTOFUNNEL.exists(), reason="needs the project's virtualenv")
def test_ctrl_c_stops_make_run_cleanly(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AUTOFUNNEL_DATA_DIR": str(tmp_path),
        "AUTOFUNNEL_PORT": str(free_port()),
        "AUTOFUNNEL_NO_DEMO": "1",
    }
    pid, terminal = pty.fork()
    if pid == 0:  # the child: `autofunnel dev` on the terminal, as `make run` starts it
        os.execve(str(AUTOFUNNEL), [str(AUTOFUNNEL), "dev"], env)
    output = bytearray()
    status = None
    try:
        assert read_until(terminal, b"Serving on", 180, output), output.decode(errors="replace")
        time.sleep(1.5)  # the poller and the scheduler at work
        os.write(terminal, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground group
        read_until(terminal, b"Stopped the API and DynamoDB Local.", 60, output)
        status = ended(pid, 30)
    finally:
        if status is None:  # stop it as a supervisor would (it stops what it started)
            os.kill(pid, signal.SIGTERM)
            if ended(pid, 30) is None:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(terminal)
    assert status is not None, "still running after Ctrl-C"
    text = output.decode(errors="replace")
    assert "Stopped the API and DynamoDB Local." in text, text[-2000:]
    assert "Traceback" not in text, text[-4000:]
    assert os.waitstatus_to_exitcode(status) == 0
    leftover = [
        line
        for line in os.popen("ps -eo args").read().splitlines()
        if str(tmp_path) in line  # DynamoDB Local's -dbPath is under this test's folder
    ]
    assert leftover == []
