"""Fixtures for the delivery layer: provider credentials in the environment, a contact with its
identities, a sent message, and requests signed the way SendGrid and Twilio sign them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.storage.contacts import timeline
from chalicelib.storage.models import Contact, Event, Identity, Message

TWILIO_TOKEN = "twilio-auth-token"
HOST = "af.example.test"


def events_of(contact_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, properties) of what the funnels saw on the contact's timeline, oldest first."""
    return [(e["name"], e["properties"]) for e in reversed(timeline(contact_id))]


def logged(subject: str) -> list[Event]:
    """What the routes appended to the event log under a subject."""
    return list(Event.query(subject))


@pytest.fixture(scope="session")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_b64(key: ec.EllipticCurvePrivateKey) -> str:
    """What SendGrid shows as the verification key: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture
def providers(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, sendgrid_key: ec.EllipticCurvePrivateKey
) -> Iterator[Settings]:
    monkeypatch.setenv("SENDGRID_WEBHOOK_PUBLIC_KEY", public_key_b64(sendgrid_key))
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("TWILIO_HELP_TEXT", "Shop: reply STOP to opt out.")
    wiring.reset()
    yield wiring.storage()


def sign_sendgrid(key: ec.EllipticCurvePrivateKey, timestamp: str, body: str) -> str:
    """SendGrid's algorithm: ECDSA P-256 / SHA-256 over timestamp + raw body, base64 DER."""
    signature = key.sign((timestamp + body).encode(), ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def post_sendgrid(
    api: Client,
    key: ec.EllipticCurvePrivateKey,
    events: list[dict[str, Any]],
    *,
    timestamp: str | None = None,
    signature: str | None = None,
) -> Any:
    body = json.dumps(events)
    timestamp = timestamp or str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "X-Twilio-Email-Event-Webhook-Signature": signature
        if signature is not None
        else sign_sendgrid(key, timestamp, body),
    }
    return api.http.post("/webhooks/sendgrid/events", headers=headers, body=body)


def sign_twilio(token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's algorithm: base64 HMAC-SHA1(auth token, URL + each name+value sorted by name)."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(
        hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    ).decode()


def post_twilio(
    api: Client,
    path: str,
    params: dict[str, str],
    *,
    token: str = TWILIO_TOKEN,
    signed_url: str | None = None,
    signature: str | None = None,
) -> Any:
    url = signed_url or f"https://{HOST}{path}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Host": HOST,
        "X-Twilio-Signature": signature
        if signature is not None
        else sign_twilio(token, url, params),
    }
    return api.http.post(path, headers=headers, body=urlencode(params))


def make_contact(
    contact_id: str,
    *,
    email: str | None = None,
    phone: str | None = None,
    proof: str | None = "shop",
    **identities: str,
) -> Contact:
    """A contact with these addresses, proven by `proof` (a shop webhook's customer, by
    default: texts go only to proven numbers)."""
    now = datetime.now(UTC)
    contact = Contact(contact_id, first_seen=now)
    contact.save()
    values = {"email": email, "phone": phone, **identities}
    for kind, value in values.items():
        if value:
            Identity(
                f"{kind}:{value}",
                contact_id=contact_id,
                kind=kind,
                value=value,
                created_at=now,
                proof=proof,
            ).save()
    return contact


def make_message(
    message_id: str,
    contact_id: str,
    channel: str,
    address: str,
    provider_id: str | None = None,
    created_at: datetime | None = None,
) -> Message:
    created = created_at or datetime.now(UTC) - timedelta(minutes=5)
    message = Message(
        message_id,
        idempotency_key=message_id,
        contact_id=contact_id,
        recorded_for=contact_id,
        channel=channel,
        address=address,
        provider_id=provider_id,
        status="sent",
        created_at=created,
        sent_at=created,
        funnel="welcome",
        step_id="step-1",
    )
    message.save()
    return message
