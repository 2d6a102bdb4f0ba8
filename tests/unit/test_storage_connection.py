"""The connection the models share creates DynamoDB clients (and, on AWS, the scheduler's) from
botocore's own model files, without botocore listing every service it knows first (a tenth of a
cold start), and on one session (a second one costs the worker's cold start a third more)."""

from __future__ import annotations

import os

import botocore.session
import pynamodb.connection.base
import pytest

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.storage import binding
from chalicelib.storage.connection import SERVICES, SharedConnection


def new_container_connection(monkeypatch: pytest.MonkeyPatch, region: str) -> SharedConnection:
    """A connection with a session of its own, as in a new container: the one the tests share
    has loaded DynamoDB's model already (tests/conftest.py), so it would list nothing at all."""
    monkeypatch.setattr(pynamodb.connection.base, "get_session", botocore.session.Session)
    return SharedConnection(region=region, aws_access_key_id="id", aws_secret_access_key="secret")


def test_the_shared_connection_makes_dynamodb_clients_looking_only_at_the_apps_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = new_container_connection(monkeypatch, "eu-west-1")
    listed: list[str] = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path: listed.append(str(path)) or real_listdir(path))

    client = connection.client

    assert client.meta.service_model.service_name == "dynamodb"
    assert client.meta.region_name == "eu-west-1"
    assert "PutItem" in client.meta.service_model.operation_names
    assert listed and all(any(name in path for name in SERVICES) for path in listed), listed
    loader = connection.session.get_component("data_loader")
    assert loader.list_available_services("service-2") == ["dynamodb", "scheduler", "sqs"]
    assert connection.client is client  # one client for the container


def test_the_shared_connection_reads_botocores_own_files_whole_into_plain_dicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.loaders import Loader

    connection = new_container_connection(monkeypatch, "ap-southeast-3")
    loader = connection.session.get_component("data_loader")

    endpoints = loader.load_data("endpoints")
    model = loader.load_service_model("dynamodb", "service-2")  # gzipped in recent botocore

    assert type(endpoints) is dict and type(model["shapes"]) is dict
    assert len(endpoints["partitions"]) == len(Loader().load_data("endpoints")["partitions"])
    assert list(model["operations"]) == list(
        Loader().load_service_model("dynamodb", "service-2")["operations"]
    )  # the order botocore's OrderedDicts keep
    client = connection.client
    assert client.meta.endpoint_url == "https://dynamodb.ap-southeast-3.amazonaws.com"


def test_on_aws_the_schedulers_client_shares_the_connections_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection = new_container_connection(monkeypatch, "eu-west-1")
    monkeypatch.setattr(binding, "_bound", connection)
    monkeypatch.setattr(botocore.session, "get_session", lambda: pytest.fail("a second session"))
    on_aws = Settings.from_env({"AUTOFUNNEL_STAGE": "prod", "AWS_REGION": "eu-west-1"})

    client = wiring._aws_client("scheduler", on_aws)

    assert client.meta.service_model.service_name == "scheduler"
    assert client.meta.region_name == "eu-west-1"
    assert "CreateSchedule" in client.meta.service_model.operation_names
