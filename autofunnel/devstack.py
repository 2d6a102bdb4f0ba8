"""`make run`: DynamoDB Local, tables, example funnels, the local scheduler, the stream worker
(DynamoDB Local's streams polled into the same handler the `worker` Lambda runs) and
`chalice local`, stopped together on Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from autofunnel import demo_seed, dynamodb_local
from autofunnel.funnel_commands import funnel_files
from chalicelib import jobs, wiring
from chalicelib.core.problems import FunnelValidationError
from chalicelib.eventlog import local as local_streams
from chalicelib.paging.budget import Budget
from chalicelib.runtime.local_scheduler import LocalScheduler
from chalicelib.storage.tables import create_tables

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEV_ADMIN_KEY = "dev-admin-key"
DEV_WRITE_KEY = "dev-write-key"
DEV_SERVER_KEY = "dev-server-key"
DEV_IDENTITY_SECRET = "local-identity-secret"
DEMO_TIMEZONE = "Europe/Berlin"  # the example funnels' zone: the shop's, for a local demo
DAYTIME = (time(9, 0), time(20, 0))  # a sped-up demo starting outside this jumps to 09:00
JOB_BUDGET_SECONDS = 2.0  # per job and tick of the local loop (a Lambda gets up to 15 minutes)


@dataclass(frozen=True)
class LocalOptions:
    port: int
    data_dir: Path
    admin_key: str
    write_key: str
    server_key: str = DEV_SERVER_KEY
    identity_secret: str = DEV_IDENTITY_SECRET
    time_scale: float = 1.0
    funnels_dir: Path = PROJECT_DIR / "funnels"
    demo_timezone: str = DEMO_TIMEZONE

    @classmethod
    def from_env(cls, time_scale: float | None = None) -> LocalOptions:
        return cls(
            port=int(os.environ.get("AUTOFUNNEL_PORT") or 8000),
            data_dir=Path(os.environ.get("AUTOFUNNEL_DATA_DIR") or PROJECT_DIR / ".data"),
            admin_key=os.environ.get("AUTOFUNNEL_ADMIN_KEY") or DEV_ADMIN_KEY,
            write_key=os.environ.get("AUTOFUNNEL_WRITE_KEY") or DEV_WRITE_KEY,
            server_key=os.environ.get("AUTOFUNNEL_SERVER_KEYS") or DEV_SERVER_KEY,
            identity_secret=os.environ.get("AUTOFUNNEL_IDENTITY_SECRET") or DEV_IDENTITY_SECRET,
            time_scale=time_scale or float(os.environ.get("AUTOFUNNEL_TIME_SCALE") or 1),
            demo_timezone=os.environ.get("AUTOFUNNEL_DEMO_TIMEZONE") or DEMO_TIMEZONE,
        )


def demo_start(wall: datetime, zone: str = DEMO_TIMEZONE) -> datetime:
    """Where a sped-up demo starts funnel time: now, in the shop's daytime; otherwise the next
    09:00 there. Quiet hours (21:00-08:00 in the contact's zone, else the funnel's) would hold a
    reminder from a late-evening walkthrough until morning: moving the start keeps them intact
    and the demo visible at any hour."""
    local = wall.astimezone(ZoneInfo(zone))
    if DAYTIME[0] <= local.time() < DAYTIME[1]:
        return wall
    morning = local.replace(hour=DAYTIME[0].hour, minute=0, second=0, microsecond=0)
    if local.time() >= DAYTIME[1]:
        morning = (local + timedelta(days=1)).replace(
            hour=DAYTIME[0].hour, minute=0, second=0, microsecond=0
        )
    return morning.astimezone(UTC)


def local_environment(
    options: LocalOptions, dynamodb_endpoint: str, wall: datetime | None = None
) -> dict[str, str]:
    """The settings the local API and scheduler share (the `local` Chalice stage). `wall`: the
    time it is now (a test may pretend another hour)."""
    epoch = datetime.now(UTC)
    start = demo_start(wall or epoch, options.demo_timezone) if options.time_scale != 1 else None
    return {
        "AUTOFUNNEL_STAGE": "local",
        "AUTOFUNNEL_TABLE_PREFIX": "autofunnel-local",
        "AUTOFUNNEL_DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "AUTOFUNNEL_ADMIN_KEY": options.admin_key,
        "AUTOFUNNEL_WRITE_KEY": options.write_key,
        "AUTOFUNNEL_SERVER_KEYS": options.server_key,
        "AUTOFUNNEL_IDENTITY_SECRET": options.identity_secret,
        "AUTOFUNNEL_SIGNING_SECRET": os.environ.get("AUTOFUNNEL_SIGNING_SECRET")
        or "local-signing-secret",
        "AUTOFUNNEL_PUBLIC_URL": f"http://127.0.0.1:{options.port}",
        "AUTOFUNNEL_SCHEDULER": "local",
        "AUTOFUNNEL_TIME_SCALE": str(options.time_scale),
        "AUTOFUNNEL_CLOCK_EPOCH": epoch.isoformat(),
        "AUTOFUNNEL_CLOCK_START": start.isoformat() if start else "",
    }


def run(options: LocalOptions, on_ready: Callable[[dict[str, str]], None] | None = None) -> int:
    # A SIGTERM (from `timeout`, a supervisor, a closed terminal) stops everything like Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    emulator = dynamodb_local.start(data_dir=options.data_dir / "dynamodb", own_session=True)
    # The stream positions live beside the data, as an event source mapping's outlive a deploy.
    local_streams.keep_positions_in(options.data_dir / "stream-positions.json")
    api: subprocess.Popen[bytes] | None = None
    scheduler: LocalSchedulerLoop | None = None
    try:
        os.environ.update(local_environment(options, emulator.endpoint))
        env = dict(os.environ)
        wiring.reset()
        created = create_tables(wiring.storage())
        print(f"DynamoDB Local on {emulator.endpoint}, data in {options.data_dir}", flush=True)
        if created:
            print(f"Created {len(created)} tables", flush=True)
        publish_funnels(options.funnels_dir)
        demo_seed.seed_on_first_start()  # analytics: a populated dashboard on the first start
        scheduler = LocalSchedulerLoop()
        scheduler.start()
        if options.time_scale != 1:
            print(
                f"Funnel time runs {options.time_scale:g}x faster than the wall clock", flush=True
            )
            start = env.get("AUTOFUNNEL_CLOCK_START", "")
            if start and start != env["AUTOFUNNEL_CLOCK_EPOCH"]:
                at = datetime.fromisoformat(start).astimezone(ZoneInfo(options.demo_timezone))
                print(
                    f"It is night in {options.demo_timezone}: funnel time starts at "
                    f"{at:%a %H:%M} there, so quiet hours do not hold the demo's messages",
                    flush=True,
                )
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
        if scheduler is not None:
            scheduler.stop()
        if api is not None and api.poll() is None:
            os.killpg(api.pid, signal.SIGTERM)
            api.wait(timeout=10)
        emulator.stop()
        print("Stopped the API and DynamoDB Local.", flush=True)


def publish_funnels(directory: Path) -> None:
    """Load the example funnels (a new version only when a file changed)."""
    store = wiring.funnel_store()
    for path in funnel_files(directory):
        try:
            published = store.publish(path.read_text(), path.name, wiring.clock()())
        except FunnelValidationError as invalid:
            print(f"Skipped {path.name}:\n{invalid}", flush=True)
            continue
        change = "published" if published.created else "unchanged"
        print(f"Funnel {published.name} v{published.version} ({change})", flush=True)


class LocalSchedulerLoop(threading.Thread):
    """The local stand-in for the event source mapping, EventBridge Scheduler and the scheduled
    Lambdas: polls the streams five times a second, fires due wake-ups every second, starts each
    periodic job (chalicelib/jobs.py) at its rate, measured in funnel time (so `--time-scale`
    speeds the jobs up too), and continues unfinished paged jobs a page budget at a time, so
    wake-ups never wait long behind a big job."""

    def __init__(self) -> None:
        super().__init__(name="local-scheduler", daemon=True)
        self._stopping = threading.Event()

    def run(self) -> None:
        app = wiring.app()
        scheduler = LocalScheduler()
        last_run: dict[str, datetime] = {}
        tick = 0
        while not self._stopping.wait(0.2):
            try:
                app.streams.poll()
            except Exception:  # keep the loop alive; the records are delivered again
                log.exception("local stream worker failed")
            tick += 1
            if tick % 5:
                continue
            now = app.now()
            try:
                scheduler.run_due(app.runtime.handle_wakeup, now)
            except Exception:  # keep the loop alive; the next tick retries
                log.exception("local scheduler: wake-ups failed")
            for periodic in jobs.PERIODIC:
                previous = last_run.get(periodic.kind)
                if previous is not None and now - previous < timedelta(minutes=periodic.minutes):
                    continue
                last_run[periodic.kind] = now
                try:
                    jobs.run_periodic(periodic.kind, Budget(JOB_BUDGET_SECONDS))
                except Exception:
                    log.exception("local scheduler: job %s failed", periodic.kind)
            try:  # what the `job_runner` tick does on AWS: unfinished and API-started jobs
                jobs.continue_open(Budget(JOB_BUDGET_SECONDS))
            except Exception:
                log.exception("local scheduler: continuing jobs failed")

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _print_keys(options: LocalOptions) -> None:
    for name, value, default in [
        ("AUTOFUNNEL_ADMIN_KEY", options.admin_key, DEV_ADMIN_KEY),
        ("AUTOFUNNEL_WRITE_KEY", options.write_key, DEV_WRITE_KEY),
        ("AUTOFUNNEL_SERVER_KEYS", options.server_key, DEV_SERVER_KEY),
        ("AUTOFUNNEL_IDENTITY_SECRET", options.identity_secret, DEV_IDENTITY_SECRET),
    ]:
        note = " (development default; set the variable to change it)" if value == default else ""
        print(f"{name}={value}{note}", flush=True)
