"""Who is polling: a browser proves it is the visitor an anonymous id belongs to.

The write key is public and an anonymous id travels (in events, in a Shopify cart attribute, in
a forwarded Telegram deep link), so the id alone must not open anyone's on-site messages. The
snippet also keeps a random device key of its own, sent only to the poll. The first poll that
finds the anonymous id on a contact binds (a hash of) that device key to the id's identity
(trust on first use, one conditional update); afterwards a poll with the id and any other key
gets nothing. A stranger therefore reads nothing, whatever ids they know, and a visitor sees
only their own contact's on-site messages: their content, never the contact's addresses or
profile. A merge moves the identity with its binding; erasure deletes both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

from pynamodb.exceptions import UpdateError

from chalicelib.identity.keys import InvalidIdentity, identity_key
from chalicelib.storage.models import Identity

DEVICE_KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class NotTheVisitor(Exception):
    """The device key does not match the one bound to this anonymous id."""


def _digest(device_key: str) -> str:
    return hashlib.sha256(device_key.encode()).hexdigest()


def contact_of(anonymous_id: str, device_key: str, now: datetime) -> str | None:
    """The contact whose on-site messages this browser may see; None when the id belongs to
    nobody yet. Raises NotTheVisitor when the id is bound to another device key. One GetItem;
    the first poll of a browser also binds its key (one conditional UpdateItem)."""
    try:
        key = identity_key("anon", anonymous_id)
    except InvalidIdentity:
        return None
    try:
        identity = Identity.get(key)
    except Identity.DoesNotExist:
        return None
    digest = _digest(device_key)
    if identity.device is None:
        try:
            identity.update(
                actions=[Identity.device.set(digest)],
                condition=Identity.device.does_not_exist() & Identity.identity.exists(),
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            identity = Identity.get(key, consistent_read=True)  # another browser bound first
    if not hmac.compare_digest(str(identity.device or ""), digest):
        raise NotTheVisitor(key)
    return str(identity.contact_id)
