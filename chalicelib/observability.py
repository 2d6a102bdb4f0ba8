"""Structured logs and metrics: one JSON object per log line, with the correlation id of what is
being handled, never an email, a phone number or a token; and CloudWatch metrics as Embedded
Metric Format (EMF) lines, which CloudWatch Logs turns into metrics with no API call.

Written with the standard library: Powertools' Logger and Metrics would add about 85 ms of
imports to every cold start for what these ~150 lines do.

The correlation id follows an event from the route to the send: an HTTP request carries API
Gateway's request id (or a well-formed `X-Correlation-Id` the caller sent); the event log's
worker restores the id of the request that stored each event (`correlate()` per record); a
wake-up runs under the Lambda request id and logs the enrollment it wakes.

Metrics (namespace `Autofunnel`, dimension `stage`, and `channel` for messages):
`EventsIn`, `MessagesSent`, `MessagesHeld` (quiet hours, daily limits, provider back-off),
`MessagesFailed`, `MessagesSkipped` (no channel reaches the contact), `DailyLimitReached`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

NAMESPACE = "Autofunnel"
LOGGER_NAME = __name__  # not "autofunnel": Chalice keeps that logger for the app (level ERROR)
_correlation: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
_CORRELATION_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# What must never reach a log line: addresses, phone numbers, our signed tokens, credentials.
_REDACTIONS = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"(?:\+|\b00)\d[\d ()-]{6,}\d"), "<phone>"),
    (re.compile(r"\b\d{10,15}\b"), "<number>"),
    (re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"), "<token>"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 <secret>"),
)
# Keys whose values are personal data or secrets whatever they look like.
_SECRET_KEYS = frozenset(
    {"email", "phone", "address", "token", "authorization", "password", "text", "to", "from_"}
)


def scrub(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _clean(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS:
        return "<redacted>"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(key, item) for item in value]
    return value


class JsonFormatter(logging.Formatter):
    """`{"level", "message", "logger", "correlation_id", "stage", ...extra keys}`, scrubbed."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname,
            "message": scrub(record.getMessage()),
            "logger": record.name,
            "timestamp": round(record.created, 3),
            "correlation_id": _correlation.get() or None,
            "stage": os.environ.get("AUTOFUNNEL_STAGE"),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = _clean(key, value)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure_logging(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """JSON lines for our loggers and the root (Lambda's own handler is replaced, not doubled)."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("botocore", "urllib3", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def correlation_id() -> str:
    return _correlation.get()


@contextlib.contextmanager
def correlate(value: str | None) -> Iterator[str]:
    """Log under `value` (an incoming id when well formed) for the duration of the block."""
    token = _correlation.set(value if value and _CORRELATION_SHAPE.fullmatch(value) else "")
    try:
        yield _correlation.get()
    finally:
        _correlation.reset(token)


class Metrics:
    """Counts for one invocation, written as one EMF document per dimension set at `flush()`."""

    def __init__(self, namespace: str = NAMESPACE) -> None:
        self.namespace = namespace
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        if value:
            self._counts[(name, tuple(sorted(dimensions.items())))] += value

    def flush(self, stream: TextIO | None = None) -> None:
        if not self._counts or not _metrics_enabled():
            self._counts.clear()
            return
        stage = os.environ.get("AUTOFUNNEL_STAGE", "dev")
        grouped: dict[tuple[tuple[str, str], ...], dict[str, int]] = {}
        for (name, dimensions), value in self._counts.items():
            grouped.setdefault(dimensions, {})[name] = value
        out = stream or sys.stdout
        for dimensions, values in grouped.items():
            keys = ["stage", *(key for key, _ in dimensions)]
            document: dict[str, Any] = {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": self.namespace,
                            "Dimensions": [keys],
                            "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
                        }
                    ],
                },
                "stage": stage,
                **dict(dimensions),
                **values,
            }
            if _correlation.get():
                document["correlation_id"] = _correlation.get()
            out.write(json.dumps(document, separators=(",", ":")) + "\n")
        out.flush()
        self._counts.clear()


def _metrics_enabled() -> bool:
    """On in Lambda (CloudWatch reads the lines); elsewhere only when asked for."""
    setting = os.environ.get("AUTOFUNNEL_METRICS", "")
    return setting == "on" or (setting != "off" and "AWS_LAMBDA_FUNCTION_NAME" in os.environ)


metrics = Metrics()
log = logging.getLogger(LOGGER_NAME)

# What the dispatcher's delivery outcomes count as.
_OUTCOME_METRICS = {
    "sent": "MessagesSent",
    "deferred": "MessagesHeld",
    "retry": "MessagesHeld",
    "failed": "MessagesFailed",
    "no_route": "MessagesSkipped",
    "held": "MessagesHeld",  # over a daily limit (daily_limit_reached counts those too)
}


def events_in(count: int, source: str) -> None:
    """Events the log stored (duplicates not counted)."""
    metrics.count("EventsIn", count)
    if count:
        log.info("events stored", extra={"count": count, "source": source})


def message_outcome(
    status: str,
    *,
    message_id: str,
    channel: str | None,
    funnel: str | None,
    step: str | None,
    error: str | None = None,
) -> None:
    """A send attempt's result: one metric and one log line (ids only, never the address)."""
    name = _OUTCOME_METRICS.get(status)
    if name:
        metrics.count(name, channel=channel or "none")
    log.log(
        logging.WARNING if status == "failed" else logging.INFO,
        "message %s",
        status,
        extra={
            "message_id": message_id,
            "channel": channel,
            "funnel": funnel,
            "step": step,
            "error": error,
        },
    )


def daily_limit_reached(channel: str) -> None:
    """A channel's daily limit held a message back until an operator releases or discards it
    (`/admin/held`); the DailySmsLimit alarm counts this."""
    metrics.count("DailyLimitReached", channel=channel)
    log.warning("daily limit reached", extra={"channel": channel})


def records_handed_back(count: int) -> None:
    """The worker's invocation ran short of time: records it did not start come back."""
    metrics.count("RecordsHandedBack", count)
    log.warning("time ran short: records handed back to the stream", extra={"count": count})


def traits_refused(limit: str, contact_id: str, event_id: str) -> None:
    """The worker refused an identify's traits: the contact holds as many as it may."""
    metrics.count("TraitsRefused", limit=limit)
    log.warning(
        "traits refused", extra={"limit": limit, "contact_id": contact_id, "event_id": event_id}
    )


def correlation_of(event: Any) -> str:
    """The id an invocation logs under: a well-formed `X-Correlation-Id` header, else API
    Gateway's request id, else the Lambda request id."""
    headers = getattr(event, "headers", None)
    if headers is not None:
        incoming = headers.get("x-correlation-id") or ""
        if _CORRELATION_SHAPE.fullmatch(incoming):
            return str(incoming)
        context = getattr(event, "context", None) or {}
        return str(context.get("requestId") or "")
    context = getattr(event, "context", None)
    return str(getattr(context, "aws_request_id", "") or "")


def invocation_done(event: Any, response: Any, seconds: float) -> None:
    """One line per HTTP request: the route template (never the concrete path: tokens live in
    paths such as /u/{token}), the status and the time taken."""
    context = getattr(event, "context", None)
    if getattr(event, "headers", None) is None or not isinstance(context, Mapping):
        return
    status = getattr(response, "status_code", None)
    log.info(
        "request",
        extra={
            "method": getattr(event, "method", None),
            "route": context.get("resourcePath"),
            "status": status,
            "ms": round(seconds * 1000, 1),
        },
    )
