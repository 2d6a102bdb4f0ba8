"""The infra stack (`autofunnel-{stage}-infra`): create, update, recover a failed first creation,
adopt tables a deleted stack left behind, and delete.

The tables are `DeletionPolicy: Retain`: a stack whose first creation failed (ROLLBACK_COMPLETE)
or that was deleted leaves them behind. CloudFormation can neither update a ROLLBACK_COMPLETE
stack nor create tables whose names exist, so a deploy deletes the failed stack and imports the
tables it finds into the new one (an IMPORT change set) before creating the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml

from autofunnel.infra import build_template, render_template

Echo = Callable[[str], None]
WAIT = {"Delay": 5, "MaxAttempts": 720}  # CloudFormation takes minutes: poll every 5 s, 1 h max
IMPORTABLE = "AWS::DynamoDB::Table"


class DeployError(RuntimeError):
    """Something the operator has to act on; the message says what."""


def stack_name(stage: str) -> str:
    return f"autofunnel-{stage}-infra"


def table_names(stage: str) -> dict[str, str]:
    """Logical id -> table name of every table the template creates for `stage`."""
    resources = build_template()["Resources"]
    return {
        logical: resource["Properties"]["TableName"]["Fn::Sub"].replace("${Stage}", stage)
        for logical, resource in resources.items()
        if resource["Type"] == IMPORTABLE
    }


def stack_status(cloudformation: Any, name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def deploy_stack(
    stage: str,
    cloudformation: Any,
    dynamodb: Any,
    parameters: Mapping[str, str],
    echo: Echo = print,
) -> dict[str, str]:
    """Bring the stack to the current template; returns its outputs."""
    name = stack_name(stage)
    arguments = {
        "StackName": name,
        "TemplateBody": render_template(),
        "Parameters": _parameters(stage, parameters),
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
    }
    status = stack_status(cloudformation, name)
    if status == "ROLLBACK_COMPLETE":
        echo(
            f"{name} failed on its first creation (ROLLBACK_COMPLETE): deleting it to re-create it"
        )
        cloudformation.delete_stack(StackName=name)
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAIT)
        status = None
    elif status is not None and (status.endswith("_IN_PROGRESS") or status.endswith("_FAILED")):
        raise DeployError(
            f"{name} is {status}: wait for it to settle (or repair it in the CloudFormation"
            " console) and deploy again"
        )
    if status is None:
        retained = existing_tables(stage, dynamodb)
        if retained:
            adopt_tables(stage, retained, cloudformation, dynamodb, arguments, echo)
        else:
            echo(f"Creating {name}")
            cloudformation.create_stack(**arguments)
            _wait(cloudformation, name, "stack_create_complete")
            return outputs(cloudformation, name)
    try:
        cloudformation.update_stack(**arguments)
    except cloudformation.exceptions.ClientError as error:
        if "No updates are to be performed" not in str(error):
            raise
        echo(f"{name} is up to date")
    else:
        echo(f"Updating {name}")
        _wait(cloudformation, name, "stack_update_complete")
    return outputs(cloudformation, name)


def existing_tables(stage: str, dynamodb: Any) -> dict[str, str]:
    """The stage's tables that exist already (left by a failed or deleted stack)."""
    found = {}
    for logical, table in table_names(stage).items():
        try:
            dynamodb.describe_table(TableName=table)
        except dynamodb.exceptions.ResourceNotFoundException:
            continue
        found[logical] = table
    return found


def adopt_tables(
    stage: str,
    retained: Mapping[str, str],
    cloudformation: Any,
    dynamodb: Any,
    arguments: Mapping[str, Any],
    echo: Echo,
) -> None:
    """Create the stack by importing the retained tables (keys checked first); the caller's
    update then creates everything else."""
    template = build_template()
    for logical, table in retained.items():
        expected = template["Resources"][logical]["Properties"]["KeySchema"]
        actual = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        if sorted(map(_key, actual)) != sorted(map(_key, expected)):
            raise DeployError(
                f"table {table} exists with keys {actual}, not {expected}: it is not this"
                " stage's table; rename or delete it, or deploy another stage"
            )
    echo(f"Adopting the tables a previous stack left: {', '.join(sorted(retained.values()))}")
    importing = {
        key: value for key, value in template.items() if key not in ("Resources", "Outputs")
    }
    importing["Resources"] = {logical: template["Resources"][logical] for logical in retained}
    name = arguments["StackName"]
    change_set = f"{name}-adopt-tables"
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName=change_set,
        ChangeSetType="IMPORT",
        TemplateBody=yaml.safe_dump(importing, sort_keys=False),
        Parameters=arguments["Parameters"],
        Capabilities=arguments["Capabilities"],
        ResourcesToImport=[
            {
                "ResourceType": IMPORTABLE,
                "LogicalResourceId": logical,
                "ResourceIdentifier": {"TableName": table},
            }
            for logical, table in retained.items()
        ],
    )
    cloudformation.get_waiter("change_set_create_complete").wait(
        StackName=name, ChangeSetName=change_set, WaiterConfig=WAIT
    )
    cloudformation.execute_change_set(StackName=name, ChangeSetName=change_set)
    _wait(cloudformation, name, "stack_import_complete")


def outputs(cloudformation: Any, name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def delete_stack(stage: str, cloudformation: Any, echo: Echo = print) -> bool:
    """Delete the stack (its tables stay: Retain); False when there was none."""
    name = stack_name(stage)
    if stack_status(cloudformation, name) is None:
        return False
    echo(f"Deleting {name} (its tables are kept)")
    cloudformation.delete_stack(StackName=name)
    cloudformation.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=WAIT)
    return True


def _wait(cloudformation: Any, name: str, waiter: str) -> None:
    from botocore.exceptions import WaiterError

    try:
        cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig=WAIT)
    except WaiterError as error:
        raise DeployError(
            f"{name} did not finish ({error}). {_failure_reasons(cloudformation, name)}"
            " Fix the cause and deploy again: a failed first creation is cleaned up and its"
            " tables are adopted."
        ) from error


def _failure_reasons(cloudformation: Any, name: str) -> str:
    try:
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    except cloudformation.exceptions.ClientError:
        return ""
    reasons = [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}"
        for event in events
        if event.get("ResourceStatus", "").endswith("_FAILED")
    ]
    return ("Failures: " + "; ".join(reasons[:5]) + ".") if reasons else ""


def _parameters(stage: str, parameters: Mapping[str, str]) -> list[dict[str, str]]:
    values = {"Stage": stage, **parameters}
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in values.items()]


def _key(entry: Mapping[str, str]) -> tuple[str, str]:
    return (entry["AttributeName"], entry["KeyType"])
