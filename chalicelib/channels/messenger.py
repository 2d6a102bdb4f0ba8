"""Facebook Messenger and Instagram through Meta's Send API, over HTTPS with the standard library.

Meta allows free-form messages only within 24 hours of the person's last message
(Identity.window_until, passed as OutgoingMessage.window_until). Outside it a message goes out
only with a permitted message tag named in the content (`tag`); otherwise ChannelUnavailable
tells the caller to try the next channel in the step's list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.channels import http
from chalicelib.channels.base import ChannelUnavailable, OutgoingMessage, SendResult
from chalicelib.channels.retry import classify_meta

GRAPH_API = "https://graph.facebook.com"
GRAPH_VERSION = "v21.0"
PERMITTED_TAGS = {
    "messenger": {
        "CONFIRMED_EVENT_UPDATE",
        "POST_PURCHASE_UPDATE",
        "ACCOUNT_UPDATE",
        "HUMAN_AGENT",
    },
    "instagram": {"HUMAN_AGENT"},
}


def _now() -> datetime:
    return datetime.now(UTC)


class MetaMessenger:
    def __init__(
        self,
        name: str,  # "messenger" or "instagram"
        access_token: str,
        api_base: str = GRAPH_API,
        api_version: str = GRAPH_VERSION,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.name = name
        self.access_token = access_token
        self.api_base = api_base.rstrip("/")
        self.api_version = api_version
        self.timeout = timeout
        self.clock = clock

    def messaging_type(self, message: OutgoingMessage) -> dict[str, str]:
        window = message.window_until
        if window is not None and window.tzinfo is None:
            window = window.replace(tzinfo=UTC)
        if window is not None and self.clock() < window:
            return {"messaging_type": "RESPONSE"}
        tag = str(message.content.get("tag") or "").upper()
        if tag in PERMITTED_TAGS.get(self.name, set()):
            return {"messaging_type": "MESSAGE_TAG", "tag": tag}
        reason = f"outside {self.name}'s 24-hour window"
        raise ChannelUnavailable(reason + (f" and tag {tag!r} is not permitted" if tag else ""))

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        content = message.content
        text = str(content.get("text") or content.get("body") or "")
        url_buttons = [
            {"type": "web_url", "url": str(b["url"]), "title": str(b.get("text") or b["url"])[:20]}
            if b.get("url")
            # A reply button: pressing it sends a postback, i.e. `button_clicked {button: id}`.
            else {"type": "postback", "payload": str(b["id"]), "title": str(b.get("text"))[:20]}
            for b in content.get("buttons") or ()
            if isinstance(b, Mapping) and (b.get("url") or (b.get("id") and b.get("text")))
        ]
        body: dict[str, Any]
        if url_buttons:
            body = {
                "attachment": {
                    "type": "template",
                    "payload": {
                        "template_type": "button",
                        "text": text,
                        "buttons": url_buttons[:3],
                    },
                }
            }
        else:
            body = {"text": text}
        replies = [
            {
                "content_type": "text",
                "title": str(r.get("title") or r.get("text"))[:20],
                "payload": str(r.get("payload") or r.get("title") or r.get("text")),
            }
            for r in content.get("quick_replies") or ()
            if isinstance(r, Mapping) and (r.get("title") or r.get("text"))
        ]
        if replies:
            body["quick_replies"] = replies[:13]
        return {
            "recipient": {"id": message.address},
            **self.messaging_type(message),
            "message": body,
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        payload = self.payload(message)  # raises ChannelUnavailable before any request
        response = http.post_json(
            f"{self.api_base}/{self.api_version}/me/messages",
            payload,
            headers={"Authorization": f"Bearer {self.access_token}"},
            timeout=self.timeout,
            label=f"Meta Send API ({self.name})",
        )
        body = response.json() if isinstance(response.json(), dict) else {}
        if response.status != 200 or "error" in body:
            raise classify_meta(response.status, body, response.headers)
        return SendResult(provider_id=str(body.get("message_id") or message.message_id))
