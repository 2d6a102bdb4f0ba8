"""The PynamoDB connection every model shares, with a botocore session that finds DynamoDB's
model without listing every service botocore knows, and parses botocore's JSON into plain dicts.

To check the name of the service a client is created for, botocore's data loader lists the
folders of all its ~400 services and looks into each one (about 35 ms of CPU, once per
container: a tenth of a cold start). The session creates clients only for the services the app
calls (DynamoDB, and EventBridge Scheduler on AWS: `wiring._aws_client`), so its loader checks
the folders of those and nothing else; the models, their versions and extras come from the same
files as before.

botocore parses its JSON files into OrderedDicts, twice the CPU of plain dicts (which keep their
order too): at the first request, `endpoints.json` (1.25 MB, for the endpoint resolver) and
DynamoDB's model take about 30 ms of a cold start that way, 15 ms as plain dicts. The files are
the runtime botocore's own, whole: a copy trimmed at build time could miss a region it knows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import IO, Any

import botocore.session
from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader
from pynamodb.connection import Connection

from chalicelib.long_lived import container_lifetime


class KnownServicesLoader(Loader):
    """botocore's loader, its list of available services narrowed to `services`."""

    def __init__(self, services: tuple[str, ...], **options: Any) -> None:
        super().__init__(**options)
        self.services = services

    def list_available_services(self, type_name: str) -> list[str]:
        return [name for name in self.services if self._provides(name, type_name)]

    def _provides(self, service: str, type_name: str) -> bool:
        try:
            return bool(self.list_api_versions(service, type_name))
        except DataNotFoundError:
            return False


class PlainJSONFileLoader(JSONFileLoader):
    """botocore's JSON file loader (plain and gzipped files), parsing into plain dicts.

    It stands in for `JSONFileLoader._load_file(full_path, open_method)`, there since botocore
    learnt to read gzipped models (2022): an older botocore never calls it and parses as before,
    and a call shaped otherwise goes to botocore's own."""

    def _load_file(
        self, full_path: str, open_method: Callable[..., IO[bytes]], *more: Any, **options: Any
    ) -> Any:
        if more or options:
            return super()._load_file(full_path, open_method, *more, **options)
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as file:
            return json.loads(file.read().decode("utf-8"))


# The services the shared session creates clients for
SERVICES = ("dynamodb", "scheduler", "sqs")


class SharedConnection(Connection):
    """PynamoDB's connection whose botocore session knows only the app's services (SERVICES) and
    parses their models as plain dicts."""

    @property
    def session(self) -> botocore.session.Session:
        session = super().session
        loader = session.get_component("data_loader")
        if not isinstance(loader, KnownServicesLoader):  # the same folders (AWS_DATA_PATH too)
            narrowed = KnownServicesLoader(
                SERVICES,
                extra_search_paths=loader.search_paths,
                include_default_search_paths=False,
                file_loader=PlainJSONFileLoader(),
            )
            session.register_component("data_loader", narrowed)
        return session

    @property
    def client(self) -> Any:
        if self._client is not None:
            return super().client
        with container_lifetime("dynamodb client"):  # the endpoint table and DynamoDB's model
            return super().client
