"""Who is polling: a browser proves it is the visitor an anonymous id belongs to.

The write key is public and an anonymous id travels (in events, in a Shopify cart attribute, in
a forwarded Telegram deep link), so the id alone must not open anyone's on-site messages. The
snippet also keeps a random device key of its own, sent only to the poll. The first poll that
finds the anonymous id on a contact binds that device key to it (trust on first use, one
conditional put); afterwards a poll with the id and any other key gets nothing. A stranger
therefore reads nothing, whatever ids they know, and a visitor sees only their own contact's
on-site messages: their content, never the contact's addresses or profile.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from pynamodb.exceptions import PutError

from chalicelib.identity.keys import InvalidIdentity, identity_key
from chalicelib.storage.models import Identity, Receipt

DEVICE_KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
KEPT = timedelta(days=400)  # like the events the anonymous id belongs to


class NotTheVisitor(Exception):
    """The device key does not match the one bound to this anonymous id."""


def _receipt_key(identity: str) -> str:
    """Per identity key ("anon:<id>"); hashed, so the receipts table holds no visitor ids."""
    return "onsite-device:" + hashlib.sha256(identity.encode()).hexdigest()


def _digest(device_key: str) -> str:
    return hashlib.sha256(device_key.encode()).hexdigest()


def contact_of(anonymous_id: str, device_key: str, now: datetime) -> str | None:
    """The contact whose on-site messages this browser may see; None when the id belongs to
    nobody yet. Raises NotTheVisitor when the id is bound to another device key."""
    try:
        key = identity_key("anon", anonymous_id)
    except InvalidIdentity:
        return None
    try:
        identity = Identity.get(key)
    except Identity.DoesNotExist:
        return None
    _check_device(key, device_key, now)
    return str(identity.contact_id)


def _check_device(identity: str, device_key: str, now: datetime) -> None:
    receipt_key, digest = _receipt_key(identity), _digest(device_key)
    try:
        Receipt(receipt_key, created_at=now, result={"device": digest}, expires_at=now + KEPT).save(
            condition=Receipt.key.does_not_exist()
        )
        return  # the first poll of this browser: bound now
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    bound = Receipt.get(receipt_key).result or {}
    if not hmac.compare_digest(str(bound.get("device", "")), digest):
        raise NotTheVisitor(identity)


def forget(identities: list[str]) -> None:
    """Erasure: the device bindings of a person's anonymous ids ("anon:<id>" keys)."""
    with Receipt.batch_write() as batch:
        for identity in identities:
            batch.delete(Receipt(_receipt_key(identity)))
