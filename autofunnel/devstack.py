"""`make run`: DynamoDB Local + tables + `chalice local`, stopped together on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autofunnel import dynamodb_local
from chalicelib.config import Settings
from chalicelib.storage.tables import create_tables

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEV_ADMIN_KEY = "dev-admin-key"
DEV_WRITE_KEY = "dev-write-key"


@dataclass(frozen=True)
class LocalOptions:
    port: int
    data_dir: Path
    admin_key: str
    write_key: str

    @classmethod
    def from_env(cls) -> LocalOptions:
        return cls(
            port=int(os.environ.get("AUTOFUNNEL_PORT") or 8000),
            data_dir=Path(os.environ.get("AUTOFUNNEL_DATA_DIR") or PROJECT_DIR / ".data"),
            admin_key=os.environ.get("AUTOFUNNEL_ADMIN_KEY") or DEV_ADMIN_KEY,
            write_key=os.environ.get("AUTOFUNNEL_WRITE_KEY") or DEV_WRITE_KEY,
        )


def local_environment(options: LocalOptions, dynamodb_endpoint: str) -> dict[str, str]:
    """The settings the local API and scheduler share (the `local` Chalice stage)."""
    return {
        "AUTOFUNNEL_STAGE": "local",
        "AUTOFUNNEL_TABLE_PREFIX": "autofunnel-local",
        "AUTOFUNNEL_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "AUTOFUNNEL_ADMIN_KEY": options.admin_key,
        "AUTOFUNNEL_WRITE_KEY": options.write_key,
        "AUTOFUNNEL_SIGNING_SECRET": os.environ.get("AUTOFUNNEL_SIGNING_SECRET")
        or "local-signing-secret",
        "AUTOFUNNEL_PUBLIC_URL": f"http://127.0.0.1:{options.port}",
        "AUTOFUNNEL_SCHEDULER": "local",
    }


def run(options: LocalOptions, on_ready: Callable[[dict[str, str]], None] | None = None) -> int:
    # A SIGTERM (from `timeout`, a supervisor, a closed terminal) stops everything like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    emulator = dynamodb_local.start(data_dir=options.data_dir / "dynamodb")
    api: subprocess.Popen[bytes] | None = None
    try:
        env = {**os.environ, **local_environment(options, emulator.endpoint)}
        created = create_tables(Settings.from_env(env))
        print(f"DynamoDB Local on {emulator.endpoint}, data in {options.data_dir}", flush=True)
        if created:
            print(f"Created {len(created)} tables", flush=True)
        if on_ready is not None:
            on_ready(env)
        _print_keys(options)
        api = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "chalice"),
                "local",
                "--no-autoreload",
                "--stage",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(options.port),
            ],
            cwd=PROJECT_DIR,
            env=env,
            start_new_session=True,  # its own process group: one signal stops all of it
        )
        print(f"Autofunnel API on http://127.0.0.1:{options.port} (Ctrl-C stops it)", flush=True)
        return api.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if api is not None and api.poll() is None:
            os.killpg(api.pid, signal.SIGTERM)
            api.wait(timeout=10)
        emulator.stop()
        print("Stopped the API and DynamoDB Local.", flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_keys(options: LocalOptions) -> None:
    for name, value, default in [
        ("AUTOFUNNEL_ADMIN_KEY", options.admin_key, DEV_ADMIN_KEY),
        ("AUTOFUNNEL_WRITE_KEY", options.write_key, DEV_WRITE_KEY),
    ]:
        note = " (development default; set the variable to change it)" if value == default else ""
        print(f"{name}={value}{note}", flush=True)
