"""A copy of the project with a `rehearsal` stage, deployed to a local moto server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GAPS = Path(__file__).resolve().parent / "moto_gaps"
STAGE = "rehearsal"
REGION = "us-east-1"
PROJECT_FILES = (
    "app.py",
    "chalicelib",
    ".chalice",
    "requirements.txt",
    "requirements-deploy.txt",
    "requirements-dev.txt",
    "pyproject.toml",
    "Makefile",
)


def copy_project(target: Path) -> Path:
    """The project, less what a checkout carries that a deploy must not (records, caches)."""
    target.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "deployed", "deployments", "venv")
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    config_path = target / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    stage = json.loads(json.dumps(config["stages"]["dev"]).replace("dev", STAGE))
    config["stages"][STAGE] = stage
    config_path.write_text(json.dumps(config, indent=2))
    policy = (target / ".chalice" / "policy-dev.json").read_text()
    (target / ".chalice" / f"policy-{STAGE}.json").write_text(policy.replace("-dev", f"-{STAGE}"))
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        failure = f"moto_server did not start:\n{log.read_text()}"
                        raise RuntimeError(failure) from None
                    time.sleep(0.2)
            yield endpoint
        finally:
            process.terminate()
            process.wait(timeout=10)


def environment(endpoint: str, path: str) -> dict[str, str]:
    """An operator's shell: AWS pointed at moto, the stage's secrets, no Java or npm."""
    keep = {"HOME", "LANG", "LC_ALL", "TMPDIR"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(
        {
            "PATH": path,
            "PYTHONPATH": str(GAPS),
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "rehearsal",
            "AWS_SECRET_ACCESS_KEY": "rehearsal",
            "AWS_DEFAULT_REGION": REGION,
            "AUTOFUNNEL_ADMIN_KEY": "rehearsal-admin-key-of-32-characters",
            "AUTOFUNNEL_SIGNING_SECRET": "rehearsal-signing-secret-of-32-chars",
            "AUTOFUNNEL_WRITE_KEYS": '{"site-key": ["https://shop.example"]}',
            "AUTOFUNNEL_ALARM_EMAIL": "ops@shop.example",
            "TWILIO_AUTH_TOKEN": "rehearsal-twilio-token",
        }
    )
    return env


def path_without_java(tools: Path) -> str:
    """The venv's bin and a folder holding only the tools `make deploy` needs."""
    tools.mkdir(parents=True, exist_ok=True)
    for tool in ("make", "bash", "sh", "env", "touch", "test", "uname", "cat", "rm", "mkdir"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    return f"{BIN}:{tools}"
