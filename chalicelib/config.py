"""Settings in one place, read from the environment (Chalice stage variables on AWS).

Nothing here talks to AWS; `Settings.from_env()` is a pure function of the environment so tests
can build settings for any stage without touching `os.environ`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import urlsplit

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
    write_keys: tuple[WriteKey, ...] = ()  # public: they sit in every page
    server_keys: tuple[str, ...] = ()  # secret: the shop's backend (its calls are proof)
    identity_secret: str = ""  # signs identity hashes: HMAC-SHA256(secret, user id or email)
    signing_secret: str = ""  # signs click, unsubscribe and deep-link tokens
    public_url: str = ""  # https base URL the API is reachable at (links in messages)
    site_url: str = ""  # the shop's own site: `{{ links.site }}` in templates
    shop_name: str = ""  # how texts name the shop ("Reply YES to get texts from <shop>")
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
    # Countries (ISO codes) an SMS or WhatsApp may go to; None: the phone region's country.
    sms_countries: frozenset[str] | None = None
    daily_limits: Mapping[str, int] = field(default_factory=dict)  # channel -> sends per UTC day
    frequency_cap: tuple[int, timedelta] | None = None  # (max, per): messages per contact
    link_hosts: tuple[str, ...] = ()  # hosts besides the site's that tracked links may go to
    link_ttl_days: int = 90  # click tokens stop redirecting this long after the send
    problems: tuple[str, ...] = ()  # why this container must not serve (see `current`)

    @property
    def is_local(self) -> bool:
        """On a laptop or in the tests: DynamoDB Local. On AWS there is no endpoint."""
        return bool(self.dynamodb_endpoint)

    @property
    def allowed_sms_countries(self) -> frozenset[str]:
        """Where SMS and WhatsApp may go: AUTOFUNNEL_SMS_COUNTRIES, else the phone region's
        country, else nowhere ("*" in the variable: anywhere)."""
        if self.sms_countries is not None:
            return self.sms_countries
        return frozenset({self.phone_region}) if self.phone_region else frozenset()

    @property
    def allowed_link_hosts(self) -> tuple[str, ...]:
        """Hosts a click token may redirect to: the site's, plus AUTOFUNNEL_LINK_HOSTS."""
        try:
            site = urlsplit(self.site_url).hostname if self.site_url else None
        except ValueError:
            site = None
        return tuple(dict.fromkeys(filter(None, (site, *self.link_hosts))))

    @property
    def shop_display_name(self) -> str:
        """AUTOFUNNEL_SHOP_NAME, else the site's host name, else "us"."""
        if self.shop_name:
            return self.shop_name
        try:
            host = urlsplit(self.site_url).hostname if self.site_url else None
        except ValueError:
            host = None
        return (host or "us").removeprefix("www.")

    def table_name(self, logical_name: str) -> str:
        return f"{self.table_prefix}-{logical_name}"

    def write_key(self, key: str) -> WriteKey | None:
        """The configured key equal to `key`, compared in constant time with every key."""
        found = None
        for candidate in self.write_keys:
            if hmac.compare_digest(candidate.key.encode(), key.encode()) and found is None:
                found = candidate
        return found

    def server_key(self, key: str) -> bool:
        """Whether `key` is one of the server keys (compared in constant time with each)."""
        found = False
        for candidate in self.server_keys:
            found |= hmac.compare_digest(candidate.encode(), key.encode())
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
            server_keys=_server_keys(env),
            identity_secret=env.get("AUTOFUNNEL_IDENTITY_SECRET", ""),
            signing_secret=env.get("AUTOFUNNEL_SIGNING_SECRET", ""),
            public_url=env.get("AUTOFUNNEL_PUBLIC_URL", "").rstrip("/"),
            site_url=env.get("AUTOFUNNEL_SITE_URL", "").rstrip("/"),
            shop_name=env.get("AUTOFUNNEL_SHOP_NAME", "").strip(),
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
            sms_countries=_countries(env),
            daily_limits=_daily_limits(env.get("AUTOFUNNEL_DAILY_LIMITS", "")),
            frequency_cap=_frequency_cap(env.get("AUTOFUNNEL_FREQUENCY_CAP", "")),
            link_hosts=_hosts(env.get("AUTOFUNNEL_LINK_HOSTS", "")),
            link_ttl_days=_positive_int(env, "AUTOFUNNEL_LINK_TTL_DAYS", 90),
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


ANY_COUNTRY = "*"
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60}


def _countries(env: Mapping[str, str]) -> frozenset[str] | None:
    """ "DE, AT": ISO 3166 country codes; unset: None (the phone region's); empty: none."""
    if "AUTOFUNNEL_SMS_COUNTRIES" not in env:
        return None
    raw = env["AUTOFUNNEL_SMS_COUNTRIES"]
    codes = frozenset(raw.replace(",", " ").upper().split())
    if not all(code == ANY_COUNTRY or re.fullmatch(r"[A-Z]{2}", code) for code in codes):
        raise SettingsError(
            f"AUTOFUNNEL_SMS_COUNTRIES must list two-letter country codes, not {raw!r}"
        )
    return codes


def _daily_limits(raw: str) -> dict[str, int]:
    """'{"sms": 500, "whatsapp": 200}': sends per channel and UTC day, across all containers."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise SettingsError(f"AUTOFUNNEL_DAILY_LIMITS is not valid JSON: {error}") from error
    if not isinstance(parsed, dict) or not all(
        isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0
        for limit in parsed.values()
    ):
        raise SettingsError('AUTOFUNNEL_DAILY_LIMITS maps channels to whole numbers: {"sms": 500}')
    return {str(channel): int(limit) for channel, limit in parsed.items()}


def _frequency_cap(raw: str) -> tuple[int, timedelta] | None:
    """ "3 per 7d": at most 3 messages to one contact in any 7 days, across all funnels."""
    if not raw.strip():
        return None
    match = re.fullmatch(r"\s*(\d+)\s*(?:per|/)\s*((?:\d+\s*[wdhm]\s*)+)", raw.lower())
    if match is None or int(match.group(1)) < 1:
        raise SettingsError(
            f"AUTOFUNNEL_FREQUENCY_CAP is written like '3 per 7d' (w, d, h, m), not {raw!r}"
        )
    seconds = sum(
        int(amount) * _DURATION_UNITS[unit]
        for amount, unit in re.findall(r"(\d+)\s*([wdhm])", match.group(2))
    )
    if seconds <= 0:
        raise SettingsError(f"AUTOFUNNEL_FREQUENCY_CAP needs a window longer than 0: {raw!r}")
    return int(match.group(1)), timedelta(seconds=seconds)


def _hosts(raw: str) -> tuple[str, ...]:
    """ "shop.example, *.cdn.example": host names, comma or space separated (a URL's host is
    taken if one is given)."""
    hosts = []
    for item in raw.replace(",", " ").split():
        host = urlsplit(item).hostname if "://" in item else item
        if not host or not re.fullmatch(r"(\*\.)?[a-z0-9.-]+", host.lower()):
            raise SettingsError(f"AUTOFUNNEL_LINK_HOSTS: {item!r} is not a host name")
        hosts.append(host.lower())
    return tuple(hosts)


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


def _server_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """AUTOFUNNEL_SERVER_KEYS: keys separated by commas or spaces; none may be a write key too
    (a key in every page's source would make every claim proof)."""
    keys = tuple(dict.fromkeys(env.get("AUTOFUNNEL_SERVER_KEYS", "").replace(",", " ").split()))
    public = {key.key for key in _parse_write_keys(env)}
    if public & set(keys):
        raise SettingsError(
            "AUTOFUNNEL_SERVER_KEYS and AUTOFUNNEL_WRITE_KEYS share a key: a server key must be "
            "secret, and write keys are in every page"
        )
    return keys


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


EVENTS_STREAM_ARN = "AUTOFUNNEL_EVENTS_STREAM_ARN"
ENROLLMENTS_STREAM_ARN = "AUTOFUNNEL_ENROLLMENTS_STREAM_ARN"


def enrollments_stream_arn(env: Mapping[str, str] | None = None) -> str:
    """The enrollments table's stream, the `step_tallies` worker's event source (set and
    stood in for like `events_stream_arn`)."""
    return _stream_arn(ENROLLMENTS_STREAM_ARN, "enrollments", env)


def events_stream_arn(env: Mapping[str, str] | None = None) -> str:
    """The event log's stream, the worker's event source (`@app.on_dynamodb_record`).

    Chalice reads it when it imports app.py at deploy time, so `autofunnel deploy` sets it from
    the infra stack's `EventsStreamArn` output in the environment of `chalice deploy` (and in
    the functions' environment). Elsewhere (tests, `chalice local`, a bare `chalice package`) a
    placeholder of the same shape keeps app.py importable; `autofunnel deploy` never uses it.
    """
    return _stream_arn(EVENTS_STREAM_ARN, "events", env)


def _stream_arn(variable: str, table: str, env: Mapping[str, str] | None) -> str:
    env = os.environ if env is None else env
    arn = env.get(variable, "").strip()
    if arn:
        return arn
    stage = env.get("AUTOFUNNEL_STAGE", "dev")
    prefix = env.get("AUTOFUNNEL_TABLE_PREFIX") or f"autofunnel-{stage}"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    # autofunnel/package.py recognises the suffix (its SAM template imports the real ARN).
    return f"arn:aws:dynamodb:{region}:000000000000:table/{prefix}-{table}/stream/not-deployed"
