"""`autofunnel deploy --stage S`: the infra stack, then `chalice deploy` with its outputs.

Secrets are read from the operator's environment and written only into a throwaway build copy
of the project, so they never land in the repository's `.chalice/config.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autofunnel.infra import render_template
from chalicelib.config import PROVIDER_PREFIXES, Settings
from chalicelib.secrets import SSM_PREFIX, weak_secrets

PROJECT_DIR = Path(__file__).resolve().parent.parent
OUTPUT_VARIABLES = {
    "TablePrefix": "AUTOFUNNEL_TABLE_PREFIX",
    "ScheduleGroupName": "AUTOFUNNEL_SCHEDULE_GROUP",
    "SchedulerRoleArn": "AUTOFUNNEL_SCHEDULER_ROLE_ARN",
    "DeadLetterQueueArn": "AUTOFUNNEL_DEAD_LETTER_QUEUE_ARN",
    "StepRunnerArn": "AUTOFUNNEL_STEP_RUNNER_ARN",
}
SECRET_VARIABLES = (
    "AUTOFUNNEL_ADMIN_KEY",
    "AUTOFUNNEL_WRITE_KEYS",
    "AUTOFUNNEL_SIGNING_SECRET",
    "AUTOFUNNEL_PUBLIC_URL",
)


def stage_environment(outputs: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The Lambda environment: the stack's outputs plus the secrets set in this shell."""
    env = {variable: outputs[key] for key, variable in OUTPUT_VARIABLES.items() if key in outputs}
    for name, value in environ.items():
        if name in SECRET_VARIABLES or name.startswith(PROVIDER_PREFIXES):
            env[name] = value
    missing = [
        name for name in ("AUTOFUNNEL_ADMIN_KEY", "AUTOFUNNEL_SIGNING_SECRET") if name not in env
    ]
    if missing:
        raise ValueError(f"set {', '.join(missing)} in your environment before deploying")
    # The deployed API would refuse to serve with these (chalicelib/secrets.py): say so now.
    # (An `ssm:` reference is checked when the Lambda reads it.)
    direct = {name: value for name, value in env.items() if not value.startswith(SSM_PREFIX)}
    weak = weak_secrets(Settings.from_env(direct))
    if weak:
        raise ValueError("refusing to deploy: " + "; ".join(weak))
    return env


def deploy_stack(stage: str, cloudformation: Any) -> dict[str, str]:
    """Create or update `autofunnel-{stage}-infra`; returns its outputs."""
    name = f"autofunnel-{stage}-infra"
    arguments = {
        "StackName": name,
        "TemplateBody": render_template(),
        "Parameters": [{"ParameterKey": "Stage", "ParameterValue": stage}],
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
    }
    try:
        cloudformation.describe_stacks(StackName=name)
        exists = True
    except cloudformation.exceptions.ClientError:
        exists = False
    if exists:
        try:
            cloudformation.update_stack(**arguments)
            cloudformation.get_waiter("stack_update_complete").wait(StackName=name)
        except cloudformation.exceptions.ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
    else:
        cloudformation.create_stack(**arguments)
        cloudformation.get_waiter("stack_create_complete").wait(StackName=name)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def chalice_deploy(stage: str, env: Mapping[str, str], project_dir: Path = PROJECT_DIR) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        build = Path(scratch) / "autofunnel"
        prepare_build_copy(stage, env, project_dir, build)
        chalice = str(Path(sys.executable).parent / "chalice")
        subprocess.run([chalice, "deploy", "--stage", stage], cwd=build, check=True)
        deployed = build / ".chalice" / "deployed"
        if deployed.exists():  # chalice's record of what it created: needed by the next deploy
            shutil.copytree(deployed, project_dir / ".chalice" / "deployed", dirs_exist_ok=True)


def prepare_build_copy(stage: str, env: Mapping[str, str], project_dir: Path, build: Path) -> None:
    build.mkdir(parents=True)
    shutil.copy2(project_dir / "app.py", build)
    shutil.copy2(project_dir / "requirements.txt", build)
    shutil.copytree(
        project_dir / "chalicelib",
        build / "chalicelib",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copytree(project_dir / ".chalice", build / ".chalice")
    config_path = build / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    if stage not in config["stages"]:
        raise ValueError(f"stage {stage!r} is not in .chalice/config.json")
    config["stages"][stage].setdefault("environment_variables", {}).update(env)
    config_path.write_text(json.dumps(config, indent=2))


def deploy(stage: str) -> None:
    import boto3  # an operator-side dependency, never in the Lambda

    outputs = deploy_stack(stage, boto3.client("cloudformation"))
    chalice_deploy(stage, stage_environment(outputs, os.environ))
