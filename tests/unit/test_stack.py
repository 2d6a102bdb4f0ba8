"""The infra stack through a failed first creation and retained tables (CloudFormation through
botocore's Stubber: moto never rolls a stack back and has no IMPORT change sets)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import ANY, Stubber

from autofunnel.stack import DeployError, deploy_stack, stack_name, table_names

STAGE = "prod"
NAME = stack_name(STAGE)


def clients() -> tuple[Any, Any]:
    options = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    return boto3.client("cloudformation", **options), boto3.client("dynamodb", **options)


def stack(status: str, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackName": NAME,
                "CreationTime": "2026-01-01T00:00:00Z",
                "StackStatus": status,
                "Outputs": [
                    {"OutputKey": key, "OutputValue": value}
                    for key, value in (outputs or {}).items()
                ],
            }
        ]
    }


def missing(cloudformation: Stubber) -> None:
    cloudformation.add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {NAME} does not exist"
    )


def key_schema(logical: str) -> list[dict[str, str]]:
    from autofunnel.infra import build_template

    return build_template()["Resources"][logical]["Properties"]["KeySchema"]


def test_a_rolled_back_stack_is_deleted_and_its_tables_adopted() -> None:
    cloudformation, dynamodb = clients()
    tables = table_names(STAGE)
    retained = {"ContactsTable": tables["ContactsTable"], "EventsTable": tables["EventsTable"]}
    with Stubber(cloudformation) as cfn, Stubber(dynamodb) as ddb:
        cfn.add_response("describe_stacks", stack("ROLLBACK_COMPLETE"), {"StackName": NAME})
        cfn.add_response("delete_stack", {}, {"StackName": NAME})
        missing(cfn)  # the delete waiter: gone
        for logical, table in tables.items():
            if logical in retained:
                description = {"Table": {"TableName": table, "KeySchema": key_schema(logical)}}
                ddb.add_response("describe_table", description, {"TableName": table})
            else:
                ddb.add_client_error("describe_table", "ResourceNotFoundException")
        for logical, table in retained.items():
            description = {"Table": {"TableName": table, "KeySchema": key_schema(logical)}}
            ddb.add_response("describe_table", description, {"TableName": table})
        cfn.add_response(
            "create_change_set",
            {"Id": "arn:change-set", "StackId": "arn:stack"},
            {
                "StackName": NAME,
                "ChangeSetName": f"{NAME}-adopt-tables",
                "ChangeSetType": "IMPORT",
                "TemplateBody": ANY,
                "Parameters": ANY,
                "Capabilities": ["CAPABILITY_NAMED_IAM"],
                "ResourcesToImport": [
                    {
                        "ResourceType": "AWS::DynamoDB::Table",
                        "LogicalResourceId": logical,
                        "ResourceIdentifier": {"TableName": table},
                    }
                    for logical, table in retained.items()
                ],
            },
        )
        cfn.add_response(
            "describe_change_set",
            {"Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE", "Changes": []},
            {"StackName": NAME, "ChangeSetName": f"{NAME}-adopt-tables"},
        )
        cfn.add_response(
            "execute_change_set", {}, {"StackName": NAME, "ChangeSetName": f"{NAME}-adopt-tables"}
        )
        cfn.add_response("describe_stacks", stack("IMPORT_COMPLETE"), {"StackName": NAME})
        cfn.add_response("update_stack", {"StackId": "arn:stack"}, None)
        cfn.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": NAME})
        done = stack("UPDATE_COMPLETE", {"TablePrefix": "autofunnel-prod"})
        cfn.add_response("describe_stacks", done, {"StackName": NAME})
        messages: list[str] = []
        outputs = deploy_stack(STAGE, cloudformation, dynamodb, {"AlarmEmail": ""}, messages.append)
        cfn.assert_no_pending_responses()
    assert outputs == {"TablePrefix": "autofunnel-prod"}
    assert "ROLLBACK_COMPLETE" in messages[0]
    assert tables["ContactsTable"] in messages[1] and tables["EventsTable"] in messages[1]


def test_the_import_template_holds_only_the_adopted_tables() -> None:
    cloudformation, dynamodb = clients()
    tables = table_names(STAGE)
    seen: dict[str, Any] = {}

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.update(params)

    cloudformation.meta.events.register("provide-client-params.*.CreateChangeSet", capture)
    with Stubber(cloudformation) as cfn, Stubber(dynamodb) as ddb:
        missing(cfn)
        table = tables["MessagesTable"]
        description = {"Table": {"TableName": table, "KeySchema": key_schema("MessagesTable")}}
        for logical in tables:
            if logical == "MessagesTable":
                ddb.add_response("describe_table", description)
            else:
                ddb.add_client_error("describe_table", "ResourceNotFoundException")
        ddb.add_response("describe_table", description)  # its keys, checked before the import
        cfn.add_response("create_change_set", {"Id": "arn:cs"})
        cfn.add_client_error("describe_change_set", "ValidationError", "stop here")
        with pytest.raises(Exception, match="ValidationError"):
            deploy_stack(STAGE, cloudformation, dynamodb, {}, lambda _: None)
    template = yaml.safe_load(seen["TemplateBody"])
    assert list(template["Resources"]) == ["MessagesTable"]
    assert template["Resources"]["MessagesTable"]["DeletionPolicy"] == "Retain"
    assert "Outputs" not in template


def test_a_table_with_other_keys_is_named_not_adopted() -> None:
    cloudformation, dynamodb = clients()
    tables = table_names(STAGE)
    wrong = [{"AttributeName": "id", "KeyType": "HASH"}]
    with Stubber(cloudformation) as cfn, Stubber(dynamodb) as ddb:
        missing(cfn)
        description = {"Table": {"TableName": tables["ContactsTable"], "KeySchema": wrong}}
        for logical in tables:
            if logical == "ContactsTable":
                ddb.add_response("describe_table", description)
            else:
                ddb.add_client_error("describe_table", "ResourceNotFoundException")
        ddb.add_response("describe_table", description)
        with pytest.raises(DeployError, match=tables["ContactsTable"]):
            deploy_stack(STAGE, cloudformation, dynamodb, {}, lambda _: None)


def test_a_busy_stack_is_left_alone() -> None:
    cloudformation, dynamodb = clients()
    with Stubber(cloudformation) as cfn:
        cfn.add_response("describe_stacks", stack("UPDATE_IN_PROGRESS"))
        with pytest.raises(DeployError, match="UPDATE_IN_PROGRESS"):
            deploy_stack(STAGE, cloudformation, dynamodb, {}, lambda _: None)
