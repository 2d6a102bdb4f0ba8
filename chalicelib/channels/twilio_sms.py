"""SMS and WhatsApp through Twilio's Messages API, with the official SDK (imported inside send()).

One class serves both channels: WhatsApp addresses and senders carry the `whatsapp:` prefix.
A Messaging Service SID, when configured, picks the sender (and handles Twilio's own opt-outs);
otherwise the from-number is used. Each message names its status callback URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.channels.base import OutgoingMessage, SendResult, TemporaryFailure
from chalicelib.channels.retry import classify_twilio
from chalicelib.channels.segments import sms_segments


def _whatsapp(address: str) -> str:
    return address if address.startswith("whatsapp:") else f"whatsapp:{address}"


class TwilioMessaging:
    # A status callback without our `m` parameter names only the SID: find the message by it.
    looked_up_by_provider_id = True

    def __init__(
        self,
        name: str,  # "sms" or "whatsapp"
        account_sid: str,
        auth_token: str,
        messaging_service_sid: str | None = None,
        from_number: str | None = None,
        api_base_url: str | None = None,  # a local stand-in in tests; Twilio's API otherwise
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number
        self.api_base_url = api_base_url
        self.timeout = timeout
        self._client: Any = None
        self._http: Any = None

    def _sdk(self) -> Any:
        if self._client is None:
            from twilio.rest import Client

            self._http = _header_keeping_http_client(self.timeout)
            client = Client(self.account_sid, self.auth_token, http_client=self._http)
            if self.api_base_url:
                client.api.base_url = self.api_base_url.rstrip("/")
            self._client = client
        return self._client

    def parameters(self, message: OutgoingMessage) -> dict[str, Any]:
        content = message.content
        whatsapp = self.name == "whatsapp"
        params: dict[str, Any] = {
            "to": _whatsapp(message.address) if whatsapp else message.address,
            "body": str(content.get("text") or content.get("body") or ""),
        }
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if self.from_number:
            params["from_"] = _whatsapp(self.from_number) if whatsapp else self.from_number
        if message.status_callback_url:
            params["status_callback"] = message.status_callback_url
        media = content.get("media_urls") or content.get("media_url")
        if media:
            params["media_url"] = [media] if isinstance(media, str) else list(media)
        return params

    def send(self, message: OutgoingMessage) -> SendResult:
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout
        from twilio.base.exceptions import TwilioRestException, TwilioServiceException

        params = self.parameters(message)
        client = self._sdk()
        try:
            created = client.messages.create(**params)
        except TwilioRestException as error:
            raise classify_twilio(
                error.status, _int(error.code), error.msg, self._headers()
            ) from error
        except TwilioServiceException as error:
            detail = error.detail or error.title
            raise classify_twilio(
                error.status, _int(error.code), detail, self._headers()
            ) from error
        except (Timeout, RequestsConnectionError) as error:
            raise TemporaryFailure(f"Twilio unreachable: {error}") from error
        segments = _int(getattr(created, "num_segments", None)) or sms_segments(params["body"])
        return SendResult(
            provider_id=created.sid,
            details={"segments": segments, "provider_status": created.status},
        )

    def _headers(self) -> Mapping[str, str] | None:
        """Headers of the last response (Retry-After on a 429)."""
        return getattr(self._http, "last_headers", None)


def _header_keeping_http_client(timeout: float) -> Any:
    """The SDK's HTTP client, keeping the last response's headers: its exceptions drop them."""
    from twilio.http.http_client import TwilioHttpClient

    class HeaderKeepingHttpClient(TwilioHttpClient):
        last_headers: dict[str, str] | None = None

        def request(self, *args: Any, **kwargs: Any) -> Any:
            response = super().request(*args, **kwargs)
            self.last_headers = dict(response.headers or {})
            return response

    return HeaderKeepingHttpClient(timeout=timeout)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
