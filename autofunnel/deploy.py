"""`autofunnel deploy --stage S` and `autofunnel destroy --stage S`.

Deploy: the infra stack (autofunnel/stack.py), then `chalice deploy` of a throwaway build copy
(autofunnel/package.py) whose stage environment holds the stack's outputs and the settings and
secrets of the operator's shell, so secrets never land in the repository. Then what Chalice
cannot set: API Gateway throttling per stage and the worker's failure handling on its event
source mapping.

The public URL (links in messages, `List-Unsubscribe`, Twilio status callbacks) is absolute
from the first deploy: `AUTOFUNNEL_PUBLIC_URL` when set (a custom domain), else the stage's
`api_gateway_custom_domain`, else the API's own URL. A first deploy only learns that URL once
Chalice has created the API, so it then sets it on every function in the same run; later
deploys read it from Chalice's record (`.chalice/deployed/{stage}.json`) before deploying.

A deploy whose code, configuration and environment match what runs is a no-op: each function's
environment carries `AUTOFUNNEL_BUILD`, a digest of everything that goes into the package, and
a deploy that finds the same digest and the same environment on every function skips Chalice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from autofunnel import package, stack
from autofunnel.stack import DeployError
from chalicelib.config import (
    ENROLLMENTS_STREAM_ARN,
    EVENTS_STREAM_ARN,
    PROVIDER_PREFIXES,
    Settings,
)
from chalicelib.secrets import SSM_PREFIX, weak_secrets

Echo = Callable[[str], None]
PROJECT_DIR = package.PROJECT_DIR
OUTPUT_VARIABLES = {
    "TablePrefix": "AUTOFUNNEL_TABLE_PREFIX",
    "ScheduleGroupName": "AUTOFUNNEL_SCHEDULE_GROUP",
    "SchedulerRoleArn": "AUTOFUNNEL_SCHEDULER_ROLE_ARN",
    "DeadLetterQueueArn": "AUTOFUNNEL_DEAD_LETTER_QUEUE_ARN",
    "StepRunnerArn": "AUTOFUNNEL_STEP_RUNNER_ARN",
    "EventsStreamArn": EVENTS_STREAM_ARN,
    "EnrollmentsStreamArn": ENROLLMENTS_STREAM_ARN,
    "WorkerFailureQueueArn": "AUTOFUNNEL_WORKER_FAILURE_QUEUE_ARN",
}
REQUIRED = ("AUTOFUNNEL_ADMIN_KEY", "AUTOFUNNEL_SIGNING_SECRET")
PUBLIC_URL = "AUTOFUNNEL_PUBLIC_URL"
BUILD = "AUTOFUNNEL_BUILD"
# AUTOFUNNEL_* variables of the shell that describe the operator's machine, not the stage.
NOT_PASSED = frozenset(
    {
        "AUTOFUNNEL_STAGE",
        "AUTOFUNNEL_DYNAMODB_ENDPOINT",
        "AUTOFUNNEL_TIME_SCALE",
        "AUTOFUNNEL_CLOCK_EPOCH",
        "AUTOFUNNEL_NO_DEMO",
        "AUTOFUNNEL_DATA_DIR",
        "AUTOFUNNEL_PORT",
        "AUTOFUNNEL_URL",
        "AUTOFUNNEL_ALARM_EMAIL",
        "AUTOFUNNEL_METRICS",
        BUILD,
    }
)
BUILD_INPUTS = ("app.py", "requirements.txt", "chalicelib", ".chalice/config.json")


@dataclass
class Aws:
    """The operator-side clients (boto3 honours AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL)."""

    session: Any

    @classmethod
    def from_environment(cls) -> Aws:
        import boto3  # operator side only: never in the Lambda package

        return cls(boto3.session.Session())

    def client(self, service: str) -> Any:
        return self._clients.setdefault(service, self.session.client(service))

    @cached_property
    def _clients(self) -> dict[str, Any]:
        return {}

    @property
    def region(self) -> str:
        return str(self.session.region_name or "us-east-1")


@dataclass
class Deployed:
    api_url: str
    public_url: str
    functions: dict[str, str]  # Chalice's name -> ARN
    changed: bool


def stage_environment(outputs: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The Lambda environment: the stack's outputs, then the AUTOFUNNEL_* settings and provider
    credentials set in this shell."""
    env = {variable: outputs[key] for key, variable in OUTPUT_VARIABLES.items() if key in outputs}
    for name, value in environ.items():
        passed = name.startswith("AUTOFUNNEL_") and name not in NOT_PASSED
        if passed or name.startswith(PROVIDER_PREFIXES):
            env.setdefault(name, value)
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise DeployError(f"set {', '.join(missing)} in your environment before deploying")
    # The deployed API would refuse to serve with these (chalicelib/secrets.py): say so now.
    # (An `ssm:` reference is checked when the Lambda reads it.)
    direct = {name: value for name, value in env.items() if not value.startswith(SSM_PREFIX)}
    weak = weak_secrets(Settings.from_env(direct))
    if weak:
        raise DeployError("refusing to deploy: " + "; ".join(weak))
    return env


def deploy(
    stage: str,
    project_dir: Path = PROJECT_DIR,
    environ: Mapping[str, str] | None = None,
    aws: Aws | None = None,
    echo: Echo = print,
) -> Deployed:
    environ = os.environ if environ is None else environ
    aws = aws or Aws.from_environment()
    settings = stage_settings(project_dir, stage)
    check_concurrency(stage, settings, aws.client("lambda"))
    alarm_email = {"AlarmEmail": environ.get("AUTOFUNNEL_ALARM_EMAIL", "")}
    outputs = stack.deploy_stack(
        stage, aws.client("cloudformation"), aws.client("dynamodb"), alarm_email, echo
    )
    env = stage_environment(outputs, environ)
    record = deployed_record(project_dir, stage)
    public_url = (
        env.get(PUBLIC_URL) or custom_domain_url(settings) or rest_api_url(record).rstrip("/")
    )
    if public_url:
        env[PUBLIC_URL] = public_url.rstrip("/")
    env[BUILD] = build_digest(project_dir)
    import_env = {
        EVENTS_STREAM_ARN: env.get(EVENTS_STREAM_ARN, ""),
        ENROLLMENTS_STREAM_ARN: env.get(ENROLLMENTS_STREAM_ARN, ""),
        "AUTOFUNNEL_STAGE": stage,
        "AWS_DEFAULT_REGION": aws.region,
    }
    changed = not (record and functions_match(project_dir, stage, env, record, aws))
    if changed:
        record = chalice_deploy(stage, env, import_env, project_dir)
    else:
        echo(f"Nothing changed since the last deploy of {stage}: Chalice skipped")
    api_url = rest_api_url(record)
    if not public_url:
        public_url = api_url.rstrip("/")
        echo(f"First deploy: setting {PUBLIC_URL}={public_url} on every function")
        set_function_environment(aws.client("lambda"), record, {PUBLIC_URL: public_url})
    apply_api_throttling(aws.client("apigateway"), record, settings, stage, echo)
    configure_worker_event_sources(aws.client("lambda"), record, settings, outputs, echo)
    functions = dict(_functions(record))
    echo(f"API: {api_url}\nLinks in messages use: {public_url}")
    return Deployed(api_url, public_url, functions, changed)


def destroy(
    stage: str,
    delete_tables: Callable[[list[str]], bool],
    project_dir: Path = PROJECT_DIR,
    aws: Aws | None = None,
    echo: Echo = print,
) -> list[str]:
    """Remove the app and the infra stack; the tables only if `delete_tables(names)` agrees.
    Returns the tables left in place."""
    aws = aws or Aws.from_environment()
    record_path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    if record_path.exists():
        echo(f"Deleting the functions, the API and the roles of {stage} (chalice delete)")
        with tempfile.TemporaryDirectory() as scratch:
            build = package.prepare_build(stage, {}, Path(scratch) / "autofunnel", project_dir)
            import_env = {"AUTOFUNNEL_STAGE": stage, "AWS_DEFAULT_REGION": aws.region}
            done = package.chalice(["delete", "--stage", stage], build, import_env, check=False)
        if done.returncode != 0:
            raise DeployError(f"chalice delete failed (exit {done.returncode}): see above")
        record_path.unlink(missing_ok=True)
    stack.delete_stack(stage, aws.client("cloudformation"), echo)
    dynamodb = aws.client("dynamodb")
    tables = sorted(stack.existing_tables(stage, dynamodb).values())
    if tables and delete_tables(tables):
        for table in tables:
            dynamodb.delete_table(TableName=table)
            echo(f"Deleted table {table}")
        return []
    if tables:
        echo(f"Kept {len(tables)} tables; a later deploy of {stage} adopts them")
    return tables


def stage_settings(project_dir: Path, stage: str) -> dict[str, Any]:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    if stage not in config["stages"] or stage == "local":
        deployable = sorted(name for name in config["stages"] if name != "local")
        raise DeployError(
            f"stage {stage!r} is not in .chalice/config.json (stages: {', '.join(deployable)})"
        )
    return dict(config["stages"][stage])


def deployed_record(project_dir: Path, stage: str) -> dict[str, Any]:
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def rest_api_url(record: Mapping[str, Any]) -> str:
    for resource in record.get("resources", []):
        if resource["resource_type"] == "rest_api":
            return str(resource["rest_api_url"])
    return ""


def custom_domain_url(settings: Mapping[str, Any]) -> str:
    domain = settings.get("api_gateway_custom_domain") or {}
    if not domain.get("domain_name"):
        return ""
    prefix = str(domain.get("url_prefix") or "").strip("/")
    return f"https://{domain['domain_name']}" + (f"/{prefix}" if prefix else "")


def build_digest(project_dir: Path) -> str:
    """Everything that goes into the package and the functions' configuration."""
    digest = hashlib.sha256()
    for relative in BUILD_INPUTS:
        path = project_dir / relative
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(project_dir)).encode() + b"\0")
                digest.update(file.read_bytes())
    for policy in sorted((project_dir / ".chalice").glob("policy-*.json")):
        digest.update(policy.read_bytes())
    digest.update(package.vendor_key((project_dir / "requirements.txt").read_text()).encode())
    return digest.hexdigest()[:16]


def functions_match(
    project_dir: Path, stage: str, env: Mapping[str, str], record: Mapping[str, Any], aws: Aws
) -> bool:
    """Does every function Chalice deployed run this build with this environment?"""
    from chalice.config import Config

    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    config["stages"][stage].setdefault("environment_variables", {}).update(env)
    lambda_ = aws.client("lambda")
    functions = list(_functions(record))
    if not functions:
        return False
    for name, arn in functions:
        wanted = Config(chalice_stage=stage, config_from_disk=config).scope(stage, name)
        try:
            live = lambda_.get_function_configuration(FunctionName=arn)
        except lambda_.exceptions.ResourceNotFoundException:
            return False
        if (
            live.get("Environment", {}).get("Variables", {}) != wanted.environment_variables
            or live.get("MemorySize") != wanted.lambda_memory_size
            or live.get("Timeout") != wanted.lambda_timeout
        ):
            return False
    return True


def chalice_deploy(
    stage: str, env: Mapping[str, str], import_env: Mapping[str, str], project_dir: Path
) -> dict[str, Any]:
    """`chalice deploy` of a build copy; keeps Chalice's record (and its package cache)."""
    with tempfile.TemporaryDirectory() as scratch:
        build = package.prepare_build(stage, env, Path(scratch) / "autofunnel", project_dir)
        try:
            done = package.chalice(["deploy", "--stage", stage], build, import_env, check=False)
        finally:  # what Chalice recorded, even of a failed deploy, is what exists now
            for kept in ("deployed", "deployments"):
                if (build / ".chalice" / kept).exists():
                    shutil.copytree(
                        build / ".chalice" / kept,
                        project_dir / ".chalice" / kept,
                        dirs_exist_ok=True,
                    )
        if done.returncode != 0:
            raise DeployError(
                f"chalice deploy failed (exit {done.returncode}): its message is above. Fix the"
                " cause and deploy again; what was created is reused"
            )
    return deployed_record(project_dir, stage)


def set_function_environment(
    lambda_: Any, record: Mapping[str, Any], variables: Mapping[str, str]
) -> None:
    for _name, arn in _functions(record):
        lambda_.get_waiter("function_updated_v2").wait(FunctionName=arn)
        current = lambda_.get_function_configuration(FunctionName=arn)
        merged = {**current.get("Environment", {}).get("Variables", {}), **variables}
        lambda_.update_function_configuration(FunctionName=arn, Environment={"Variables": merged})


def apply_api_throttling(
    apigateway: Any, record: Mapping[str, Any], settings: Mapping[str, Any], stage: str, echo: Echo
) -> None:
    """Rate and burst limits for every method of the stage (`api_gateway_throttling`)."""
    limits = settings.get("api_gateway_throttling")
    api_id = next(
        (r["rest_api_id"] for r in record.get("resources", []) if r["resource_type"] == "rest_api"),
        None,
    )
    if not limits or not api_id:
        return
    stage_name = settings.get("api_gateway_stage", "api")
    current = apigateway.get_stage(restApiId=api_id, stageName=stage_name)
    everything = current.get("methodSettings", {}).get("*/*", {})
    wanted = {"rateLimit": float(limits["rate_limit"]), "burstLimit": int(limits["burst_limit"])}
    actual = {
        "rateLimit": everything.get("throttlingRateLimit"),
        "burstLimit": everything.get("throttlingBurstLimit"),
    }
    if actual == wanted:
        return
    apigateway.update_stage(
        restApiId=api_id,
        stageName=stage_name,
        patchOperations=[
            {"op": "replace", "path": f"/*/*/throttling/{key}", "value": str(value)}
            for key, value in wanted.items()
        ],
    )
    echo(
        f"API throttling of {stage}: {wanted['rateLimit']:g} requests/s, burst"
        f" {wanted['burstLimit']}"
    )


def configure_worker_event_sources(
    lambda_: Any,
    record: Mapping[str, Any],
    settings: Mapping[str, Any],
    outputs: Mapping[str, str],
    echo: Echo,
) -> None:
    """What `@app.on_dynamodb_record` cannot say: partial batch failures, bounded retries,
    bisecting a failing batch, and the queue for batches given up on."""
    options = settings.get("worker_event_source") or {}
    queue = outputs.get("WorkerFailureQueueArn")
    for uuid in _stream_mappings(record):
        wanted: dict[str, Any] = {
            "FunctionResponseTypes": (
                ["ReportBatchItemFailures"] if options.get("report_batch_item_failures") else []
            ),
            "BisectBatchOnFunctionError": bool(options.get("bisect_batch_on_function_error")),
            "MaximumRetryAttempts": int(options.get("maximum_retry_attempts", -1)),
            "MaximumRecordAgeInSeconds": int(options.get("maximum_record_age_in_seconds", -1)),
        }
        if queue:
            wanted["DestinationConfig"] = {"OnFailure": {"Destination": queue}}
        current = lambda_.get_event_source_mapping(UUID=uuid)
        if all(current.get(key) == value for key, value in wanted.items()):
            continue
        lambda_.update_event_source_mapping(UUID=uuid, **wanted)
        echo(f"Worker event source {uuid}: failure handling set")


def check_concurrency(stage: str, settings: Mapping[str, Any], lambda_: Any) -> None:
    """Fail before anything changes when the stage's reserved concurrency does not fit the
    account (new accounts often have a small quota)."""
    reserved = {
        name: int(function["reserved_concurrency"])
        for name, function in (settings.get("lambda_functions") or {}).items()
        if function.get("reserved_concurrency") is not None
    }
    if not reserved:
        return
    limits = lambda_.get_account_settings()["AccountLimit"]
    total = int(limits["ConcurrentExecutions"])
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    already = 0
    for name in reserved:
        function = f"autofunnel-{stage}" + ("" if name == "api_handler" else f"-{name}")
        try:
            current = lambda_.get_function_concurrency(FunctionName=function)
        except lambda_.exceptions.ResourceNotFoundException:
            continue
        already += int(current.get("ReservedConcurrentExecutions") or 0)
    floor = 100 if total >= 1000 else 10  # Lambda keeps this much unreserved
    left = unreserved + already - sum(reserved.values())
    if left < floor:
        raise DeployError(
            f"the reserved concurrency of stage {stage} ({sum(reserved.values())}:"
            f" {', '.join(f'{k}={v}' for k, v in reserved.items())}) leaves {left} of the"
            f" account's {total} unreserved, below Lambda's minimum of {floor}. Lower"
            f" `reserved_concurrency` in .chalice/config.json (stages.{stage}.lambda_functions)"
            " or ask AWS for a higher Lambda concurrency quota"
        )


def _functions(record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for resource in record.get("resources", []):
        if resource["resource_type"] == "lambda_function":
            yield resource["name"], resource["lambda_arn"]


def _stream_mappings(record: Mapping[str, Any]) -> Iterator[str]:
    for resource in record.get("resources", []):
        if resource["resource_type"] == "dynamodb_event":
            yield resource["event_uuid"]
