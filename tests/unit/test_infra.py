"""infra/ and the Chalice package: generated from one definition, and valid CloudFormation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autofunnel.deploy import DeployError, stage_environment
from autofunnel.infra import TEMPLATE_PATH, render_template
from autofunnel.package import build_package, prepare_build
from chalicelib.storage.models import ALL_MODELS, LOCAL_ONLY_MODELS
from chalicelib.storage.schema import logical_name, table_properties

PROJECT_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_committed_template_matches_the_models() -> None:
    assert TEMPLATE_PATH.read_text() == render_template(), (
        "infra/template.yaml drifted from chalicelib/storage/models.py: "
        "run `autofunnel infra-template` and commit the result"
    )


def test_every_deployed_table_has_the_local_definition() -> None:
    resources = yaml.safe_load(TEMPLATE_PATH.read_text())["Resources"]
    tables = {
        r["Properties"]["TableName"]["Fn::Sub"]: r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::DynamoDB::Table"
    }
    for model in ALL_MODELS:
        name = f"autofunnel-${{Stage}}-{logical_name(model)}"
        if model in LOCAL_ONLY_MODELS:
            assert name not in tables
            continue
        deployed = tables[name]
        for key, value in table_properties(model).items():
            assert deployed[key] == value, f"{name}.{key}"
        assert deployed["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_infra_template_passes_cfn_lint() -> None:
    result = subprocess.run([BIN / "cfn-lint", str(TEMPLATE_PATH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_chalice_package_output_passes_cfn_lint(tmp_path: Path) -> None:
    """The package `autofunnel deploy` uploads, with its SAM template, for both stages."""
    env = {"AWS_ACCESS_KEY_ID": "ci", "AWS_SECRET_ACCESS_KEY": "ci"}
    templates = []
    for stage in ("dev", "prod"):
        out = tmp_path / stage
        build_package(stage, out, import_env=env)
        sam = json.loads((out / "sam.json").read_text())
        functions = {
            name: r["Properties"]
            for name, r in sam["Resources"].items()
            if r["Type"] == "AWS::Serverless::Function"
        }
        assert functions and all(f["Runtime"] == "python3.11" for f in functions.values())
        assert functions["APIHandler"]["Timeout"] == 29
        # The tick that continues paged jobs gets Lambda's 15 minutes (its budget is what is
        # left of them), every minute.
        assert functions["JobRunner"]["Timeout"] == 900
        [tick] = functions["JobRunner"]["Events"].values()
        assert tick["Properties"]["Schedule"] == "rate(1 minute)"
        assert all(f.get("ReservedConcurrentExecutions") for f in functions.values())
        # Both stream workers read the stream the infra stack exports, failures handled alike.
        for function, table in (("Worker", "Events"), ("StepTallies", "Enrollments")):
            [source] = functions[function]["Events"].values()
            stream = source["Properties"]
            assert stream["Stream"] == {"Fn::ImportValue": f"autofunnel-{stage}-{table}StreamArn"}
            assert stream["BisectBatchOnFunctionError"] is True
            assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        templates.append(str(out / "sam.json"))
    # One cfn-lint for both stages: its start-up is most of its time.
    result = subprocess.run([BIN / "cfn-lint", *templates], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


ADMIN = "a" * 32
SIGN = "ssm:/autofunnel/prod/signing-secret"


def test_deploy_puts_outputs_and_secrets_in_a_build_copy_only(tmp_path: Path) -> None:
    env = stage_environment(
        {"TablePrefix": "autofunnel-prod", "SchedulerRoleArn": "arn:aws:iam::1:role/r"},
        {
            "AUTOFUNNEL_ADMIN_KEY": ADMIN,
            "AUTOFUNNEL_SIGNING_SECRET": SIGN,
            "TWILIO_AUTH_TOKEN": "tok",
            "AUTOFUNNEL_SITE_URL": "https://shop.example",
            "AUTOFUNNEL_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",  # this laptop's, not AWS's
            "AUTOFUNNEL_TIME_SCALE": "120",
            "HOME": "/root",
        },
    )
    assert env == {
        "AUTOFUNNEL_TABLE_PREFIX": "autofunnel-prod",
        "AUTOFUNNEL_SCHEDULER_ROLE_ARN": "arn:aws:iam::1:role/r",
        "AUTOFUNNEL_ADMIN_KEY": ADMIN,
        "AUTOFUNNEL_SIGNING_SECRET": SIGN,
        "TWILIO_AUTH_TOKEN": "tok",
        "AUTOFUNNEL_SITE_URL": "https://shop.example",
    }
    original = (PROJECT_DIR / ".chalice" / "config.json").read_text()
    prepare_build("prod", env, tmp_path / "build", PROJECT_DIR)
    built = json.loads((tmp_path / "build" / ".chalice" / "config.json").read_text())
    assert built["stages"]["prod"]["environment_variables"]["TWILIO_AUTH_TOKEN"] == "tok"
    assert built["stages"]["prod"]["environment_variables"]["AUTOFUNNEL_SCHEDULER"] == "eventbridge"
    assert (PROJECT_DIR / ".chalice" / "config.json").read_text() == original


def test_deploy_refuses_without_the_required_secrets() -> None:
    with pytest.raises(DeployError, match="AUTOFUNNEL_ADMIN_KEY"):
        stage_environment({}, {"AUTOFUNNEL_SIGNING_SECRET": "x"})


@pytest.mark.parametrize(
    ("admin", "why"), [("dev-admin-key", "development default"), ("short", "shorter than 32")]
)
def test_deploy_refuses_a_development_default_or_a_short_key(admin: str, why: str) -> None:
    with pytest.raises(DeployError, match=f"AUTOFUNNEL_ADMIN_KEY is .*{why}"):
        stage_environment({}, {"AUTOFUNNEL_ADMIN_KEY": admin, "AUTOFUNNEL_SIGNING_SECRET": SIGN})
