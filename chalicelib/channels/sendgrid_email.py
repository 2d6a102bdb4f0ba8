"""Email through SendGrid's v3 mail send, with the official SDK (imported inside send()).

Every email carries what bulk-sender rules require: `List-Unsubscribe: <https://…>` with
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058) and a visible unsubscribe link.
`custom_args.message_id` comes back on every event webhook call, so events find their message.
"""

from __future__ import annotations

import html
import urllib.error
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.channels.base import OutgoingMessage, SendResult, TemporaryFailure
from chalicelib.channels.retry import classify_sendgrid

SENDGRID_HOST = "https://api.sendgrid.com"


def with_visible_unsubscribe(
    html_body: str | None, text_body: str | None, url: str | None
) -> tuple[str | None, str | None]:
    """Append an unsubscribe link to each body that lacks one."""
    if not url:
        return html_body, text_body
    if html_body and url not in html_body and html.escape(url) not in html_body:
        footer = (
            '<p style="font-size:12px;color:#666">'
            f'<a href="{html.escape(url, quote=True)}">Unsubscribe</a></p>'
        )
        closing = html_body.lower().rfind("</body>")
        html_body = (
            html_body[:closing] + footer + html_body[closing:]
            if closing >= 0
            else html_body + footer
        )
    if text_body and url not in text_body:
        text_body = f"{text_body.rstrip()}\n\nUnsubscribe: {url}\n"
    return html_body, text_body


def _sender(value: Any, default_email: str, default_name: str | None) -> tuple[str, str | None]:
    if isinstance(value, Mapping) and value.get("email"):
        return str(value["email"]), value.get("name") or None
    if isinstance(value, str) and value:
        return value, None
    return default_email, default_name


class SendGridEmail:
    name = "email"
    # An event without our custom args names only the X-Message-Id: find the message by it.
    looked_up_by_provider_id = True

    def __init__(
        self,
        api_key: str,
        from_email: str,
        from_name: str | None = None,
        reply_to: str | None = None,
        host: str = SENDGRID_HOST,
        timeout: float = 10.0,
    ) -> None:
        self.api_key = api_key
        self.from_email = from_email
        self.from_name = from_name
        self.reply_to = reply_to
        self.host = host
        self.timeout = timeout
        self._client: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            from sendgrid import SendGridAPIClient

            self._client = SendGridAPIClient(api_key=self.api_key, host=self.host)
        return self._client

    def build(self, message: OutgoingMessage) -> dict[str, Any]:
        """The v3 mail-send request body, built with the SDK's Mail helper."""
        from sendgrid.helpers.mail import (
            Category,
            CustomArg,
            From,
            Header,
            HtmlContent,
            Mail,
            PlainTextContent,
            ReplyTo,
            Subject,
            To,
        )

        content = message.content
        html_body, text_body = with_visible_unsubscribe(
            content.get("html"), content.get("text"), message.unsubscribe_url
        )
        from_email, from_name = _sender(
            content.get("from") or content.get("from_email"),
            self.from_email,
            content.get("from_name") or self.from_name,
        )
        mail = Mail(from_email=From(from_email, from_name), to_emails=To(message.address))
        mail.subject = Subject(str(content.get("subject") or ""))
        if text_body:
            mail.add_content(PlainTextContent(text_body))
        if html_body:
            mail.add_content(HtmlContent(html_body))
        reply_to = content.get("reply_to") or self.reply_to
        if reply_to:
            mail.reply_to = ReplyTo(str(reply_to))
        for category in _categories(message, content.get("categories") or ()):
            mail.add_category(Category(category))
        for key, value in _custom_args(message).items():
            mail.add_custom_arg(CustomArg(key, value))
        if message.unsubscribe_url:
            mail.add_header(Header("List-Unsubscribe", f"<{message.unsubscribe_url}>"))
            mail.add_header(Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        return mail.get()

    def send(self, message: OutgoingMessage) -> SendResult:
        from python_http_client.exceptions import HTTPError

        body = self.build(message)
        try:
            response = self._sdk().client.mail.send.post(request_body=body, timeout=self.timeout)
        except HTTPError as error:
            raise classify_sendgrid(
                error.status_code, error.body, _headers(error.headers)
            ) from error
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise TemporaryFailure(f"SendGrid unreachable: {error}") from error
        provider_id = _headers(response.headers).get("x-message-id") or message.message_id
        return SendResult(provider_id=provider_id, details={"status_code": response.status_code})


def _categories(message: OutgoingMessage, extra: Sequence[str]) -> list[str]:
    names = ["autofunnel", message.funnel, message.step_id, *extra]
    unique: list[str] = []
    for name in names:
        if name and str(name) not in unique:
            unique.append(str(name)[:255])
    return unique[:10]  # SendGrid allows at most 10 categories


def _custom_args(message: OutgoingMessage) -> dict[str, str]:
    args = {"message_id": message.message_id, "contact_id": message.contact_id}
    if message.funnel:
        args["funnel"] = message.funnel
    if message.step_id:
        args["step_id"] = message.step_id
    return args


def _headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if hasattr(headers, "items") else []
    return {str(key).lower(): str(value) for key, value in items}
