"""Loaded by every Python process of the deploy rehearsal (PYTHONPATH), the `autofunnel` CLI and
the `chalice` it starts: fills what the moto server lacks for `chalice deploy`.

Each gap is listed in docs/deploy.md ("What the rehearsal does not cover").
- API Gateway: moto's ImportRestApi/PutRestApi accept only OpenAPI 3 documents with an
  `info.description`; Chalice sends Swagger 2.0. moto reads only the paths, methods and
  integrations of either, so the document is relabelled on its way out and moto builds the
  real resources, methods and Lambda integrations from it.
- Operations moto does not implement are answered by botocore's Stubber with what AWS answers
  (Stubber checks the request and the answer against the service model): STUBBED below.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.session
from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

_create_client = botocore.session.Session.create_client

# service -> operation -> the answer AWS gives (a fresh account's Lambda quota).
STUBBED: dict[str, dict[str, dict[str, Any]]] = {
    "lambda": {
        "GetAccountSettings": {
            "AccountLimit": {
                "TotalCodeSize": 80530636800,
                "CodeSizeUnzipped": 262144000,
                "CodeSizeZipped": 52428800,
                "ConcurrentExecutions": 1000,
                "UnreservedConcurrentExecutions": 1000,
            },
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
        }
    }
}


def _stubbed(session: Any, client: Any, operation: str, answer: dict[str, Any]) -> Any:
    """A handler answering `operation` through a Stubber on a twin of `client`."""

    def keep(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["stub_params"] = dict(params)

    def respond(context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        twin = _create_client(
            session,
            client.meta.service_model.service_name,
            region_name=client.meta.region_name,
            aws_access_key_id="stub",
            aws_secret_access_key="stub",
        )
        method = xform_name(operation)
        params = context.get("stub_params", {})
        with Stubber(twin) as stubber:
            stubber.add_response(method, answer, params)
            parsed = getattr(twin, method)(**params)
        return AWSResponse("stub://", 200, {}, None), parsed

    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-parameter-build.{service}.{operation}", keep)
    client.meta.events.register(f"before-call.{service}.{operation}", respond)


def _openapi3_label(params: dict[str, Any], **_: Any) -> None:
    document = json.loads(params["body"])
    document.pop("swagger", None)
    document["openapi"] = "3.0.1"
    document.setdefault("info", {}).setdefault("description", "autofunnel")
    params["body"] = json.dumps(document)


def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
    client = _create_client(self, service_name, *args, **kwargs)
    for operation, answer in STUBBED.get(service_name, {}).items():
        _stubbed(self, client, operation, answer)
    if service_name == "apigateway":
        for operation in ("ImportRestApi", "PutRestApi"):
            client.meta.events.register(
                f"before-parameter-build.apigateway.{operation}", _openapi3_label
            )
    return client


botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
