"""Settings in one place, read from the environment (Chalice stage variables on AWS).

Nothing here talks to AWS; `Settings.from_env()` is a pure function of the environment so tests
can build settings for any stage without touching `os.environ`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from chalicelib import secrets

VERSION = "0.1.0"
log = logging.getLogger(__name__)


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
    providers: Mapping[str, str] = field(default_factory=dict)
    event_retention_days: int = 400  # stored events expire (DynamoDB TTL) this long after receipt
    dedupe_window_days: int = 14  # how long a messageId is remembered (retries come within hours)
    phone_region: str = ""  # ISO country assumed for phone numbers written without "+" (e.g. "US")
    attribution_window_days: int = 5  # an order counts for the message touched this long before
    problems: tuple[str, ...] = ()  # why this container must not serve (see `current`)

    @property
    def is_local(self) -> bool:
        """On a laptop or in the tests: DynamoDB Local. On AWS there is no endpoint."""
        return bool(self.dynamodb_endpoint)

    def table_name(self, logical_name: str) -> str:
        return f"{self.table_prefix}-{logical_name}"

    def write_key(self, key: str) -> WriteKey | None:
        """The configured key equal to `key`, compared in constant time with every key."""
        found = None
        for candidate in self.write_keys:
            if hmac.compare_digest(candidate.key.encode(), key.encode()) and found is None:
                found = candidate
        return found

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


class _Current:
    """The settings of this process (one Lambda container), read once. SSM references are
    resolved here; a failed read (or a malformed variable) becomes `Settings.problems`, so the
    API answers 503 saying nothing, the log says why, and the read is tried again later."""

    RETRY_AFTER = 60.0  # seconds before a failed read is tried again

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._failed_at = 0.0

    def __call__(self) -> Settings:
        settings = self._settings
        if settings is not None and not (
            settings.problems and time.monotonic() - self._failed_at > self.RETRY_AFTER
        ):
            return settings
        settings = self._read()
        problems = settings.problems + tuple(secrets.weak_secrets(settings))
        if problems:
            settings = replace(settings, problems=problems)
            self._failed_at = time.monotonic()
            for problem in problems:
                log.error("refusing to serve: %s", problem)
        self._settings = settings
        return settings

    @staticmethod
    def _read() -> Settings:
        try:
            return Settings.from_env(secrets.resolve(os.environ))
        except (secrets.SecretsUnavailable, SettingsError) as error:
            stage = os.environ.get("AUTOFUNNEL_STAGE", "dev")
            return Settings(stage=stage, problems=(str(error),))

    def cache_clear(self) -> None:
        self._settings = None


current = _Current()
