"""The deploy's decisions that need no AWS: which public URL, when a deploy is a no-op, whether
the stage's reserved concurrency fits the account (Lambda under botocore's Stubber)."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from autofunnel.deploy import (
    DeployError,
    build_digest,
    check_concurrency,
    custom_domain_url,
    rest_api_url,
    stage_settings,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_a_custom_domain_gives_the_public_url() -> None:
    assert custom_domain_url({}) == ""
    domain = {"api_gateway_custom_domain": {"domain_name": "api.shop.example"}}
    assert custom_domain_url(domain) == "https://api.shop.example"
    domain["api_gateway_custom_domain"]["url_prefix"] = "v2"
    assert custom_domain_url(domain) == "https://api.shop.example/v2"


def test_the_api_url_comes_from_chalices_record() -> None:
    record = {
        "resources": [
            {"resource_type": "lambda_function", "name": "api_handler", "lambda_arn": "arn"},
            {
                "resource_type": "rest_api",
                "rest_api_id": "abc",
                "rest_api_url": "https://abc.execute-api.eu-central-1.amazonaws.com/prod/",
            },
        ]
    }
    assert rest_api_url(record).endswith("/prod/")
    assert rest_api_url({}) == ""  # a first deploy


def test_the_build_digest_follows_code_and_configuration_only(tmp_path: Path) -> None:
    for name in ("app.py", "requirements.txt", "chalicelib", ".chalice"):
        source = PROJECT_DIR / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "deployed", "deployments")
            shutil.copytree(source, tmp_path / name, ignore=ignore)
        else:
            shutil.copy2(source, tmp_path / name)
    first = build_digest(tmp_path)
    (tmp_path / ".chalice" / "deployed").mkdir()
    (tmp_path / ".chalice" / "deployed" / "prod.json").write_text("{}")  # Chalice's record
    assert build_digest(tmp_path) == first
    (tmp_path / "chalicelib" / "jobs.py").write_text("# changed\n", encoding="utf-8")
    assert build_digest(tmp_path) != first


def test_an_unknown_stage_is_named_with_the_known_ones() -> None:
    with pytest.raises(DeployError, match=r"'staging'.*dev, prod"):
        stage_settings(PROJECT_DIR, "staging")
    with pytest.raises(DeployError):
        stage_settings(PROJECT_DIR, "local")  # `chalice local` only


def test_reserved_concurrency_that_does_not_fit_stops_the_deploy_first() -> None:
    lambda_ = boto3.client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    settings = stage_settings(PROJECT_DIR, "prod")
    small_account = {
        "AccountLimit": {"ConcurrentExecutions": 10, "UnreservedConcurrentExecutions": 10}
    }
    with Stubber(lambda_) as stub:
        stub.add_response("get_account_settings", small_account)
        for _ in settings["lambda_functions"]:
            stub.add_client_error("get_function_concurrency", "ResourceNotFoundException")
        with pytest.raises(DeployError, match="reserved_concurrency") as refused:
            check_concurrency("prod", settings, lambda_)
    assert "api_handler=100" in str(refused.value)
    roomy = {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}}
    with Stubber(lambda_) as stub:
        stub.add_response("get_account_settings", roomy)
        for _ in settings["lambda_functions"]:
            stub.add_client_error("get_function_concurrency", "ResourceNotFoundException")
        check_concurrency("prod", settings, lambda_)
