"""Fetch, start and stop AWS's DynamoDB Local for `make run` and the tests.

The emulator comes from the npm registry (the `amplify-dynamodb-simulator` package carries
DynamoDBLocal.jar and its native libraries); it is unpacked once into a cache folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

NPM_PACKAGE = "amplify-dynamodb-simulator@2.9.30"
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "dynamodb-local"
# Faster JVM start for a short-lived emulator: C1 only, serial GC (about 1 s saved).
JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx512m"]


class SetupError(RuntimeError):
    """Something the machine lacks; the message says what to install."""


def require_tool(name: str, advice: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SetupError(f"`{name}` was not found on PATH. {advice}")
    return path


def ensure_emulator(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Return the folder holding DynamoDBLocal.jar, downloading it on first use."""
    jar_dir = cache_dir / "emulator"
    if (jar_dir / "DynamoDBLocal.jar").exists():
        return jar_dir
    npm = require_tool("npm", "Install Node.js 18+ (it brings npm), e.g. `apt install nodejs npm`.")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        print(f"Fetching DynamoDB Local ({NPM_PACKAGE}) from the npm registry...", flush=True)
        subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--silent"],
            cwd=scratch,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = next(Path(scratch).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            members = [m for m in archive.getmembers() if m.name.startswith("package/emulator/")]
            archive.extractall(scratch, members=members, filter="data")
        os.replace(Path(scratch) / "package" / "emulator", jar_dir)
    return jar_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DynamoDBLocal:
    """A running emulator process; `endpoint` is what boto3/PynamoDB should talk to."""

    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(
    data_dir: Path | None = None,
    port: int | None = None,
    cache_dir: Path = DEFAULT_CACHE,
    own_session: bool = False,
) -> DynamoDBLocal:
    """Start DynamoDB Local; in memory unless `data_dir` is given (then it persists there).
    `own_session`: out of the terminal's process group, so that a Ctrl-C reaches only the
    caller, which then stops it last (`make run`: after the threads that still use it)."""
    java = require_tool(
        "java", "Install a Java 17+ runtime, e.g. `apt install openjdk-17-jre-headless`."
    )
    jar_dir = ensure_emulator(cache_dir)
    port = port or free_port()
    storage = ["-inMemory"]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        storage = ["-dbPath", str(data_dir)]
    command = [
        java,
        *JVM_FLAGS,
        f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar_dir / "DynamoDBLocal.jar"),
        "-sharedDb",
        *storage,
        "-port",
        str(port),
    ]
    # Started directly (no shell) so that our handle is java itself and stop() really stops it.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the emulator; a file, not a pipe: a full pipe would stall the JVM
    process = subprocess.Popen(
        command,
        cwd=jar_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
    )
    emulator = DynamoDBLocal(process, port, log)
    _wait_until_ready(emulator)
    return emulator


def _wait_until_ready(emulator: DynamoDBLocal, timeout: float = 180.0) -> None:
    # Generous: a busy machine (several test suites at once) starts the JVM slowly.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            emulator.log.seek(0)
            output = emulator.log.read().decode(errors="replace")
            raise SetupError(f"DynamoDB Local exited at start:\n{output[-2000:]}")
        try:
            # Any HTTP answer (400 for a bare GET) means the server is up.
            urllib.request.urlopen(emulator.endpoint, timeout=1)
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
            continue
        return
    emulator.stop()
    raise SetupError(f"DynamoDB Local did not answer on {emulator.endpoint} within {timeout:.0f} s")
