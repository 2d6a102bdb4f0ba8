"""Deep links from the site into a messenger: the signed token a visitor carries into the chat
(`t.me/<bot>?start=<token>`, `m.me/<page>?ref=<token>`), and the rule that one token links one
chat (a link shared onward does not tie a second person to the first visitor's contact)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import quote

from pynamodb.exceptions import PutError

from chalicelib.storage.models import Receipt
from chalicelib.tracking.tokens import DeepLink, TokenError, deeplink_token, read_deeplink_token

log = logging.getLogger(__name__)
LIFETIME = timedelta(days=7)  # a visitor taps the button now; a week covers a later tap


def make(secret: str, anonymous_id: str, now: datetime) -> tuple[str, datetime]:
    expires = now + LIFETIME
    return deeplink_token(secret, anonymous_id, int(expires.timestamp())), expires


def telegram_url(bot: str, token: str) -> str:
    return f"https://t.me/{quote(bot)}?start={token}"


def messenger_url(page: str, token: str) -> str:
    return f"https://m.me/{quote(page)}?ref={token}"


def read(secret: str, payload: str, now: datetime) -> DeepLink | None:
    """The link a /start payload or m.me ref carries; None for anything else (a plain
    `?start=guide`, an expired or forged token), which then links nothing."""
    if not secret or not payload:
        return None
    try:
        return read_deeplink_token(secret, payload, now.timestamp())
    except TokenError as error:
        if len(payload) > 20:  # looks like a token: worth a line; short words are campaigns
            log.info("deep link refused: %s", error)
        return None


def bind(link: DeepLink, chat_identity: str, now: datetime) -> bool:
    """True if this chat may use the link: the first chat to present it claims it."""
    key = f"deeplink:{link.token_id}"
    expires = datetime.fromtimestamp(max(link.expires_at, now.timestamp()), now.tzinfo)
    receipt = Receipt(key, created_at=now, result={"identity": chat_identity}, expires_at=expires)
    try:
        receipt.save(condition=Receipt.key.does_not_exist())
        return True
    except PutError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    try:
        owner = (Receipt.get(key, consistent_read=True).result or {}).get("identity")
    except Receipt.DoesNotExist:
        return False
    if owner != chat_identity:
        log.warning("deep link %s already linked another chat; not linking %s", key, chat_identity)
        return False
    return True
