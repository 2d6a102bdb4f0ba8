"""On-site tests: the real ingest API, runtime and poll route on DynamoDB Local, time by hand."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from tests.conftest import WRITE_KEY
from tests.integration.analytics.conftest import world  # noqa: F401 (a fixture)
from tests.integration.analytics.population import World


@dataclass
class Visitor:
    """One browser: its anonymous id and the snippet's device key."""

    world: World
    anonymous_id: str
    device_key: str

    @classmethod
    def new(cls, on: World) -> Visitor:
        return cls(on, str(uuid.uuid4()), uuid.uuid4().hex)

    def browse(self, *events: tuple[str, dict[str, Any]], **traits: Any) -> None:
        calls: list[dict[str, Any]] = [{"type": "page", "anonymousId": self.anonymous_id}]
        if traits:
            calls.append({"type": "identify", "anonymousId": self.anonymous_id, "traits": traits})
        calls += [
            {"type": "track", "anonymousId": self.anonymous_id, "event": name, "properties": props}
            for name, props in events
        ]
        self.world.batch(calls)

    def poll(self, *reports: dict[str, Any], device_key: str | None = None) -> list[dict]:
        body = {
            "writeKey": WRITE_KEY,
            "anonymousId": self.anonymous_id,
            "deviceKey": device_key or self.device_key,
            "reports": list(reports),
        }
        response = self.world.api.http.post(
            "/v1/onsite", headers={"Content-Type": "text/plain"}, body=json.dumps(body)
        )
        assert response.status_code == 200, response.body
        assert response.headers.get("Cache-Control") == "no-store"
        return response.json_body["messages"]
