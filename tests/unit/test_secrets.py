"""Secrets: SSM references read once per container, weak keys refused off the laptop (503)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import botocore.session
import pytest
from botocore.stub import Stubber
from chalice.test import Client

from app import app
from chalicelib import config, secrets
from chalicelib.config import Settings, SettingsError

STRONG = "k" * 32
AWS = {"AUTOFUNNEL_STAGE": "prod", "AUTOFUNNEL_TABLE_PREFIX": "autofunnel-prod"}


@pytest.fixture
def ssm() -> Iterator[tuple[object, Stubber]]:
    client = botocore.session.get_session().create_client(
        "ssm", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber


def test_ssm_references_are_replaced_by_their_decrypted_values(ssm: tuple[object, Stubber]) -> None:
    client, stubber = ssm
    stubber.add_response(
        "get_parameters",
        {
            "Parameters": [
                {"Name": "/autofunnel/prod/admin", "Value": STRONG, "Type": "SecureString"}
            ]
        },
        {"Names": ["/autofunnel/prod/admin"], "WithDecryption": True},
    )
    env = {"AUTOFUNNEL_ADMIN_KEY": "ssm:/autofunnel/prod/admin", "OTHER": "plain"}
    resolved = secrets.resolve(env, lambda names: secrets.fetch_from_ssm(names, client))
    assert resolved == {"AUTOFUNNEL_ADMIN_KEY": STRONG, "OTHER": "plain"}
    stubber.assert_no_pending_responses()


def test_a_missing_or_unreadable_parameter_is_named_never_guessed(
    ssm: tuple[object, Stubber],
) -> None:
    client, stubber = ssm
    stubber.add_response("get_parameters", {"Parameters": [], "InvalidParameters": ["/x"]})
    with pytest.raises(secrets.SecretsUnavailable, match="not found: /x"):
        secrets.resolve({"A": "ssm:/x"}, lambda names: secrets.fetch_from_ssm(names, client))
    stubber.add_client_error("get_parameters", "AccessDeniedException")
    with pytest.raises(secrets.SecretsUnavailable, match="could not read"):
        secrets.resolve({"A": "ssm:/x"}, lambda names: secrets.fetch_from_ssm(names, client))


def test_weak_secrets_are_named_on_aws_and_allowed_locally() -> None:
    weak = Settings.from_env(
        {
            **AWS,
            "AUTOFUNNEL_ADMIN_KEY": "dev-admin-key",
            "AUTOFUNNEL_SIGNING_SECRET": "too-short",
            "AUTOFUNNEL_WRITE_KEYS": '{"site-1": [], "dev-write-key": []}',
        }
    )
    assert secrets.weak_secrets(weak) == [
        "AUTOFUNNEL_ADMIN_KEY is a documented development default",
        "AUTOFUNNEL_SIGNING_SECRET is shorter than 32 characters "
        "(generate one with `openssl rand -hex 32`)",
        # A write key is public anyway: only the development default is refused.
        "the write key 'dev-write-key' is a documented development default",
    ]
    local = Settings.from_env(
        {
            "AUTOFUNNEL_DYNAMODB_ENDPOINT": "http://127.0.0.1:8001",
            "AUTOFUNNEL_ADMIN_KEY": "dev-admin-key",
        }
    )
    assert secrets.weak_secrets(local) == []


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AUTOFUNNEL_DYNAMODB_ENDPOINT", "AUTOFUNNEL_WRITE_KEYS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    config.current.cache_clear()
    yield
    config.current.cache_clear()


@pytest.mark.parametrize("path", ["/health", "/admin/contacts?email=a@b.c", "/r/x", "/dashboard"])
def test_a_deployment_with_a_development_key_answers_503_everywhere_and_logs_why(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    monkeypatch.setenv("AUTOFUNNEL_ADMIN_KEY", "dev-admin-key")
    monkeypatch.setenv("AUTOFUNNEL_WRITE_KEY", STRONG)
    with caplog.at_level(logging.ERROR), Client(app) as client:
        response = client.http.get(path, headers={"Authorization": "Bearer dev-admin-key"})
    assert response.status_code == 503
    assert "dev-admin-key" not in response.body.decode() and "ADMIN" not in response.body.decode()
    assert "AUTOFUNNEL_ADMIN_KEY is a documented development default" in caplog.text


def test_a_malformed_variable_or_an_unreadable_secret_is_a_503_not_a_crash(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AUTOFUNNEL_WRITE_KEYS", "{not json")
    with caplog.at_level(logging.ERROR), Client(app) as client:
        response = client.http.post(
            "/v1/track", body=b"{}", headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 503
    assert "AUTOFUNNEL_WRITE_KEYS is not valid JSON" in caplog.text


def test_write_keys_are_compared_in_constant_time_against_every_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compared: list[bytes] = []
    original = config.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return original(a, b)

    monkeypatch.setattr(config.hmac, "compare_digest", spy)
    settings = Settings.from_env({"AUTOFUNNEL_WRITE_KEYS": '{"first": [], "second": []}'})
    assert settings.write_key("first") is not None and settings.write_key("nope") is None
    assert compared == [b"first", b"second", b"first", b"second"]  # no early exit on a match


def test_server_keys_and_the_identity_secret_are_secrets_on_aws() -> None:
    weak = Settings.from_env(
        {
            **AWS,
            "AUTOFUNNEL_SERVER_KEYS": f"{STRONG}, short-key",
            "AUTOFUNNEL_IDENTITY_SECRET": "local-identity-secret",
        }
    )
    assert secrets.weak_secrets(weak) == [
        "AUTOFUNNEL_IDENTITY_SECRET is a documented development default",
        "AUTOFUNNEL_SERVER_KEYS (key 2) is shorter than 32 characters "
        "(generate one with `openssl rand -hex 32`)",
    ]
    assert weak.server_key(STRONG) and not weak.server_key("short") and not weak.server_key("")
    dev = Settings.from_env({**AWS, "AUTOFUNNEL_SERVER_KEYS": "dev-server-key"})
    assert secrets.weak_secrets(dev) == [
        "AUTOFUNNEL_SERVER_KEYS (key 1) is a documented development default"
    ]


def test_a_key_cannot_be_both_public_and_a_server_key() -> None:
    with pytest.raises(SettingsError, match="share a key"):
        Settings.from_env({"AUTOFUNNEL_WRITE_KEY": STRONG, "AUTOFUNNEL_SERVER_KEYS": STRONG})
