"""JSON log lines without personal data, correlation ids, EMF metric documents."""

from __future__ import annotations

import io
import json
import logging

import pytest

from chalicelib import observability
from chalicelib.observability import JsonFormatter, Metrics, correlate, scrub


def line(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


def test_addresses_numbers_and_tokens_never_reach_a_line() -> None:
    token = "eyJtIjoiYWJjIiwiYyI6ImMxIn0.mZ2a0Y3bq8xqXx0QH5lS1w"
    text = f"to ann.lee+shop@example.co.uk, +49 151 1234 5678, chat 123456789012 via /u/{token}"
    cleaned = scrub(text + " Authorization: Bearer sk_live_abc.def")
    for secret in ("ann.lee", "example.co.uk", "5678", "123456789012", token, "sk_live"):
        assert secret not in cleaned
    entry = line("sent to %s", "ann@example.com", email="bob@example.com", to="+15551234567")
    assert "example.com" not in json.dumps(entry) and "555" not in json.dumps(entry)
    assert entry["email"] == entry["to"] == "<redacted>"


def test_ids_and_dates_survive_the_scrubbing() -> None:
    kept = "message 9f8e7d6c5b4a39281706f5e4d3c2b1a0 at 2026-12-02T10:00:00Z step email_1"
    assert scrub(kept) == kept


def test_a_line_carries_the_correlation_id_of_its_block() -> None:
    with correlate("req-1"):
        inside = line("inside")
        with correlate("evt-2"):
            nested = line("nested")
    assert (inside["correlation_id"], nested["correlation_id"]) == ("req-1", "evt-2")
    assert line("outside")["correlation_id"] is None
    with correlate("bad id with spaces and ann@example.com"):
        assert line("x")["correlation_id"] is None  # a caller's header is used only if well formed


def test_metrics_become_one_emf_document_per_dimension_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTOFUNNEL_METRICS", "on")
    monkeypatch.setenv("AUTOFUNNEL_STAGE", "prod")
    metrics, out = Metrics(), io.StringIO()
    metrics.count("EventsIn", 3)
    metrics.count("MessagesSent", channel="email")
    metrics.count("MessagesSent", channel="email")
    metrics.count("MessagesHeld", channel="sms")
    metrics.flush(out)
    documents = [json.loads(text) for text in out.getvalue().splitlines()]
    by_dimensions = {
        tuple(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]): d for d in documents
    }
    assert by_dimensions[("stage",)]["EventsIn"] == 3
    email = next(d for d in documents if d.get("channel") == "email")
    assert email["MessagesSent"] == 2 and email["stage"] == "prod"
    assert email["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Autofunnel"
    metrics.flush(out)  # nothing new: nothing written
    assert len(out.getvalue().splitlines()) == len(documents)


def test_metrics_stay_quiet_off_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOFUNNEL_METRICS", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    metrics, out = Metrics(), io.StringIO()
    metrics.count("EventsIn")
    metrics.flush(out)
    assert out.getvalue() == ""
    assert observability.metrics.namespace == "Autofunnel"
