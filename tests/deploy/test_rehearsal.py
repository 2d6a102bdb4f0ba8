"""The deploy rehearsal: `make deploy` (no Java or npm on PATH), a second deploy, then
`autofunnel destroy`, against a local moto server. What moto lacks is filled in
tests/deploy/moto_gaps/sitecustomize.py and listed in docs/deploy.md."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from autofunnel.infra import FUNCTIONS
from tests.deploy.rehearsal import (
    BIN,
    REGION,
    STAGE,
    copy_project,
    environment,
    moto_server,
    path_without_java,
)

pytestmark = pytest.mark.slow
VENV = BIN.parent


def run(command: list[str], cwd: Path, env: dict[str, str], stdin: str = "") -> str:
    done = subprocess.run(command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{output[-6000:]}"
    return output


def aws(endpoint: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="rehearsal",
        aws_secret_access_key="rehearsal",
    )


def test_make_deploy_needs_no_java(tmp_path: Path) -> None:
    """The deploy target and everything it depends on run without Java or npm."""
    path = path_without_java(tmp_path / "tools")
    assert shutil.which("java", path=path) is None and shutil.which("npm", path=path) is None
    dry_run = subprocess.run(
        ["make", "-n", "-B", "deploy", f"VENV={VENV}", "STAGE=prod"],
        cwd=copy_project(tmp_path / "project"),
        capture_output=True,
        text=True,
        env={"PATH": path},
    )
    assert dry_run.returncode == 0, dry_run.stderr
    assert "requirements-deploy.txt" in dry_run.stdout
    assert "java" not in dry_run.stdout and "npm" not in dry_run.stdout
    assert f"{VENV}/bin/autofunnel deploy --stage prod" in dry_run.stdout


def test_deploy_redeploy_destroy_on_moto(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    with moto_server(tmp_path / "moto.log") as endpoint:
        env = environment(endpoint, path_without_java(tmp_path / "tools"))
        # the target's command line; its venv stamp is `make test`'s (-o: taken as made)
        stamp = VENV / ".deploy-installed"
        command = ["make", "-o", str(stamp), "deploy", f"STAGE={STAGE}", f"VENV={VENV}"]
        output = run(command, project, env)
        record = json.loads((project / ".chalice" / "deployed" / f"{STAGE}.json").read_text())
        rest_api = next(r for r in record["resources"] if r["resource_type"] == "rest_api")
        public_url = rest_api["rest_api_url"].rstrip("/")
        assert public_url.startswith("https://") and public_url.endswith(f"/{STAGE}")
        assert f"Links in messages use: {public_url}" in output

        stack = f"autofunnel-{STAGE}-infra"
        infra = aws(endpoint, "cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in infra["Outputs"]}
        lambda_ = aws(endpoint, "lambda")
        functions = {
            f["FunctionName"]: f
            for f in lambda_.list_functions()["Functions"]
            if f["FunctionName"].startswith(f"autofunnel-{STAGE}")
        }
        names = {f"autofunnel-{STAGE}" + (f"-{name}" if name else "") for name in FUNCTIONS}
        assert set(functions) == names  # the alarms in infra/ watch exactly these
        for name, function in functions.items():
            variables = function["Environment"]["Variables"]
            # absolute links from the very first deploy, in every function
            assert variables["AUTOFUNNEL_PUBLIC_URL"] == public_url, name
            assert variables["AUTOFUNNEL_TABLE_PREFIX"] == f"autofunnel-{STAGE}"
            assert variables["AUTOFUNNEL_EVENTS_STREAM_ARN"] == outputs["EventsStreamArn"]
            assert variables["AUTOFUNNEL_ENROLLMENTS_STREAM_ARN"] == outputs["EnrollmentsStreamArn"]
            assert variables["AUTOFUNNEL_SIGNING_SECRET"] == "rehearsal-signing-secret-of-32-chars"
            assert variables["TWILIO_AUTH_TOKEN"] == "rehearsal-twilio-token"
            assert "AUTOFUNNEL_ALARM_EMAIL" not in variables
            assert function["Runtime"] == "python3.11"
            concurrency = lambda_.get_function_concurrency(FunctionName=name)
            assert concurrency["ReservedConcurrentExecutions"] >= 1
        api = functions[f"autofunnel-{STAGE}"]
        assert (api["Timeout"], api["MemorySize"]) == (29, 512)
        assert functions[f"autofunnel-{STAGE}-rfm_scoring"]["Timeout"] == 900

        iam = aws(endpoint, "iam")
        role = functions[f"autofunnel-{STAGE}-worker"]["Role"].rsplit("/", 1)[1]
        policy_name = iam.list_role_policies(RoleName=role)["PolicyNames"][0]
        policy = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        statements = {s["Sid"]: s for s in policy["Statement"]}
        assert statements["Tables"]["Resource"][0].endswith(f"table/autofunnel-{STAGE}-*")
        assert "dynamodb:GetRecords" in statements["EventLog"]["Action"]
        assert [arn.split("/")[1] for arn in statements["EventLog"]["Resource"]] == [
            f"autofunnel-{STAGE}-events",
            f"autofunnel-{STAGE}-enrollments",
        ]
        assert statements["WorkerFailures"]["Resource"].endswith(
            f"autofunnel-{STAGE}-worker-failures"
        )
        assert "Scan" not in json.dumps(policy)

        for function, stream in (
            ("worker", "EventsStreamArn"),
            ("step_tallies", "EnrollmentsStreamArn"),
        ):
            arn = functions[f"autofunnel-{STAGE}-{function}"]["FunctionArn"]
            mappings = [
                m
                for m in lambda_.list_event_source_mappings()["EventSourceMappings"]
                if m["FunctionArn"] == arn
            ]
            assert len(mappings) == 1, function
            mapping = mappings[0]
            assert mapping["EventSourceArn"] == outputs[stream]
            assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            assert mapping["BisectBatchOnFunctionError"] is True
            assert mapping["MaximumRetryAttempts"] == 10
            assert (
                mapping["DestinationConfig"]["OnFailure"]["Destination"]
                == (outputs["WorkerFailureQueueArn"])
            )

        apigateway = aws(endpoint, "apigateway")
        api_id = rest_api["rest_api_id"]
        resources = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
        track = next(r for r in resources if r["path"] == "/v1/track")
        integration = apigateway.get_integration(
            restApiId=api_id, resourceId=track["id"], httpMethod="POST"
        )
        assert api["FunctionArn"] in integration["uri"]
        settings = apigateway.get_stage(restApiId=api_id, stageName=STAGE)["methodSettings"]
        assert settings["*/*"]["throttlingRateLimit"] == 20
        assert settings["*/*"]["throttlingBurstLimit"] == 40
        rules = aws(endpoint, "events").list_rules(NamePrefix=f"autofunnel-{STAGE}-")["Rules"]
        assert f"autofunnel-{STAGE}-sweeper-event" in {rule["Name"] for rule in rules}

        modified = {name: f["LastModified"] for name, f in functions.items()}
        output = run([str(BIN / "autofunnel"), "deploy", "--stage", STAGE], project, env)
        assert "Nothing changed since the last deploy" in output
        assert "is up to date" in output
        after = {
            f["FunctionName"]: f["LastModified"]
            for f in lambda_.list_functions()["Functions"]
            if f["FunctionName"] in modified
        }
        assert after == modified

        destroy = [str(BIN / "autofunnel"), "destroy", "--stage", STAGE]
        output = run(destroy, project, env, stdin="y\n")
        assert "Delete them with all their data?" in output
        left = [f for f in lambda_.list_functions()["Functions"] if f["FunctionName"] in modified]
        assert left == []
        tables = aws(endpoint, "dynamodb").list_tables()["TableNames"]
        assert not [table for table in tables if table.startswith(f"autofunnel-{STAGE}-")]
        stacks = aws(endpoint, "cloudformation").list_stacks()["StackSummaries"]
        assert all(summary["StackStatus"] == "DELETE_COMPLETE" for summary in stacks)
        assert not (project / ".chalice" / "deployed" / f"{STAGE}.json").exists()
