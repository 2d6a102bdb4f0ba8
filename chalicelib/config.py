"""Settings in one place, read from the environment (Chalice stage variables on AWS).

Nothing here talks to AWS; `Settings.from_env()` is a pure function of the environment so tests
can build settings for any stage without touching `os.environ`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

VERSION = "0.1.0"


class SettingsError(ValueError):
    """A setting is present but malformed; the message names the variable."""


@dataclass(frozen=True)
class WriteKey:
    """A site's ingest key and the browser origins allowed to use it (CORS)."""

    key: str
    origins: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    region: str = "us-east-1"
    dynamodb_endpoint: str = ""  # empty on AWS; DynamoDB Local's URL locally
    table_prefix: str = "autofunnel-dev"
    admin_key: str = ""
    write_keys: tuple[WriteKey, ...] = ()
    signing_secret: str = ""  # signs click, unsubscribe and deep-link tokens
    public_url: str = ""  # https base URL the API is reachable at (links in messages)
    site_url: str = ""  # the shop's own site: `{{ links.site }}` in templates
    scheduler: str = "local"  # "local" (DynamoDB-backed poller) or "eventbridge"
    schedule_group: str = ""
    scheduler_role_arn: str = ""
    step_runner_arn: str = ""
    dead_letter_queue_arn: str = ""
    time_scale: float = 1.0  # local demos only: >1 makes funnel time pass faster
    clock_epoch: str = ""  # the moment the scaled clock starts from (shared by local processes)
    clock_start: str = ""  # local demos: funnel time at that moment (default: the epoch)
    providers: Mapping[str, str] = field(default_factory=dict)
    event_retention_days: int = 400  # stored events expire (DynamoDB TTL) this long after receipt
    dedupe_window_days: int = 14  # how long a messageId is remembered (retries come within hours)
    phone_region: str = ""  # ISO country assumed for phone numbers written without "+" (e.g. "US")
    attribution_window_days: int = 5  # an order counts for the message touched this long before

    def table_name(self, logical_name: str) -> str:
        return f"{self.table_prefix}-{logical_name}"

    def write_key(self, key: str) -> WriteKey | None:
        return next((candidate for candidate in self.write_keys if candidate.key == key), None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        stage = env.get("AUTOFUNNEL_STAGE", "dev")
        return cls(
            stage=stage,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            dynamodb_endpoint=env.get("AUTOFUNNEL_DYNAMODB_ENDPOINT", ""),
            table_prefix=env.get("AUTOFUNNEL_TABLE_PREFIX") or f"autofunnel-{stage}",
            admin_key=env.get("AUTOFUNNEL_ADMIN_KEY", ""),
            write_keys=_parse_write_keys(env),
            signing_secret=env.get("AUTOFUNNEL_SIGNING_SECRET", ""),
            public_url=env.get("AUTOFUNNEL_PUBLIC_URL", "").rstrip("/"),
            site_url=env.get("AUTOFUNNEL_SITE_URL", "").rstrip("/"),
            scheduler=env.get("AUTOFUNNEL_SCHEDULER", "local"),
            schedule_group=env.get("AUTOFUNNEL_SCHEDULE_GROUP", ""),
            scheduler_role_arn=env.get("AUTOFUNNEL_SCHEDULER_ROLE_ARN", ""),
            step_runner_arn=env.get("AUTOFUNNEL_STEP_RUNNER_ARN", ""),
            dead_letter_queue_arn=env.get("AUTOFUNNEL_DEAD_LETTER_QUEUE_ARN", ""),
            time_scale=_positive_float(env, "AUTOFUNNEL_TIME_SCALE", 1.0),
            clock_epoch=env.get("AUTOFUNNEL_CLOCK_EPOCH", ""),
            clock_start=env.get("AUTOFUNNEL_CLOCK_START", ""),
            providers={
                name: value for name, value in env.items() if name.startswith(PROVIDER_PREFIXES)
            },
            event_retention_days=_positive_int(env, "AUTOFUNNEL_EVENT_RETENTION_DAYS", 400),
            dedupe_window_days=_positive_int(env, "AUTOFUNNEL_DEDUPE_WINDOW_DAYS", 14),
            phone_region=env.get("AUTOFUNNEL_PHONE_REGION", "").strip().upper(),
            attribution_window_days=_positive_int(env, "AUTOFUNNEL_ATTRIBUTION_DAYS", 5),
        )


# Provider credentials are passed through untouched; each channel adapter reads its own.
PROVIDER_PREFIXES = (
    "SENDGRID_",
    "TWILIO_",
    "TELEGRAM_",
    "META_",
    "SHOPIFY_",
    "WOOCOMMERCE_",
    "SHOP_",
)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from error
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name} must be a positive whole number of days, not {raw!r}")
    return int(raw)


def _parse_write_keys(env: Mapping[str, str]) -> tuple[WriteKey, ...]:
    """AUTOFUNNEL_WRITE_KEYS is JSON {"key": ["https://shop.example", ...]};
    AUTOFUNNEL_WRITE_KEY is a single key allowed from any origin (local development)."""
    keys: list[WriteKey] = []
    raw = env.get("AUTOFUNNEL_WRITE_KEYS", "").strip()
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as error:
            raise SettingsError(f"AUTOFUNNEL_WRITE_KEYS is not valid JSON: {error}") from error
        if not isinstance(parsed, dict) or not all(
            isinstance(origins, list) and all(isinstance(o, str) for o in origins)
            for origins in parsed.values()
        ):
            raise SettingsError(
                'AUTOFUNNEL_WRITE_KEYS must map each key to a list of origins: {"key": ["https://..."]}'
            )
        keys.extend(WriteKey(key, tuple(origins)) for key, origins in parsed.items())
    single = env.get("AUTOFUNNEL_WRITE_KEY", "").strip()
    if single and all(existing.key != single for existing in keys):
        keys.append(WriteKey(single))
    return tuple(keys)


@lru_cache(maxsize=1)
def current() -> Settings:
    """The settings of this process (one Lambda container), read once."""
    return Settings.from_env()


EVENTS_STREAM_ARN = "AUTOFUNNEL_EVENTS_STREAM_ARN"


def events_stream_arn(env: Mapping[str, str] | None = None) -> str:
    """The event log's stream, the worker's event source (`@app.on_dynamodb_record`).

    Chalice reads it when it imports app.py at deploy time, so `autofunnel deploy` sets it from
    the infra stack's `EventsStreamArn` output in the environment of `chalice deploy` (and in
    the functions' environment). Elsewhere (tests, `chalice local`, a bare `chalice package`) a
    placeholder of the same shape keeps app.py importable; `autofunnel deploy` never uses it.
    """
    env = os.environ if env is None else env
    arn = env.get(EVENTS_STREAM_ARN, "").strip()
    if arn:
        return arn
    stage = env.get("AUTOFUNNEL_STAGE", "dev")
    prefix = env.get("AUTOFUNNEL_TABLE_PREFIX") or f"autofunnel-{stage}"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    # autofunnel/package.py recognises the suffix (its SAM template imports the real ARN).
    return f"arn:aws:dynamodb:{region}:000000000000:table/{prefix}-events/stream/not-deployed"
