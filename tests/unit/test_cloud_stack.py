"""The cloud scripts read the deployed stack's outputs, and refuse what AWS could not have named.

`stack_outputs` runs against moto's CloudFormation over HTTP, with a stack whose outputs are
those of template.yaml (moto deploys the small stand-in template below, not the SAM template).
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from serving_layer import config
from serving_layer.cloud import stack
from serving_layer.cloud.stack import StackError, StackOutputs

OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.us-east-1.amazonaws.com",
    "ClientsTableName": "serving-layer-dev-ClientsTable-1A2B",
    "IdempotencyTableName": "serving-layer-dev-IdempotencyTable-3C4D",
    "AuditTableName": "serving-layer-dev-AuditTable-5E6F",
    "LakeBucketName": "serving-layer-dev-lakebucket-5e6f",
    "ResultsBucketName": "serving-layer-dev-resultsbucket-7a8b",
    "AccessLogBucketName": "serving-layer-dev-accesslogbucket-9c0d",
    "AthenaWorkGroupName": "serving-layer-dev",
    "GlueDatabaseName": "serving_lake_dev",
}


def stand_in_template(outputs: dict[str, str]) -> str:
    return json.dumps(
        {
            "Resources": {"Marker": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {name: {"Value": value} for name, value in outputs.items()},
        }
    )


def test_the_outputs_of_a_deployed_stack_are_read_by_name(moto_server: str) -> None:
    # GIVEN a stack with the template's outputs
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_server)
    cloudformation.create_stack(StackName="outputs-ok", TemplateBody=stand_in_template(OUTPUTS))

    # WHEN the scripts read it
    found = stack.stack_outputs("outputs-ok", cloudformation)

    # THEN every output is there under its own name
    assert found == StackOutputs(**OUTPUTS)
    assert found.warehouse == "s3://serving-layer-dev-lakebucket-5e6f/warehouse"


def test_a_stack_without_an_output_says_which_and_what_to_do(moto_server: str) -> None:
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_server)
    partial = {k: v for k, v in OUTPUTS.items() if k != "GlueDatabaseName"}
    cloudformation.create_stack(StackName="outputs-old", TemplateBody=stand_in_template(partial))

    with pytest.raises(StackError, match="no output GlueDatabaseName; deploy the current"):
        stack.stack_outputs("outputs-old", cloudformation)


def test_a_missing_stack_is_reported_with_a_hint(moto_server: str) -> None:
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_server)

    with pytest.raises(StackError, match=r"cannot read stack 'no-such-stack'.*make deploy"):
        stack.stack_outputs("no-such-stack", cloudformation)


@pytest.mark.parametrize(
    ("output", "value"),
    [
        ("GlueDatabaseName", "lake`; DROP TABLE x; --"),
        ("GlueDatabaseName", "Lake"),
        ("LakeBucketName", "bucket'name"),
        ("ResultsBucketName", "x"),
    ],
)
def test_names_that_aws_could_not_have_given_are_refused(output: str, value: str) -> None:
    # These names are quoted into SQL by the seed and table scripts.
    with pytest.raises(StackError, match="unexpected"):
        StackOutputs.from_outputs("s", {**OUTPUTS, output: value})


def test_the_sam_local_environment_points_each_function_at_the_stack() -> None:
    environment = stack.sam_local_environment(StackOutputs(**OUTPUTS))

    assert environment["AuthorizerFunction"] == {
        "SERVING_POLICY_STORE": "dynamodb",
        "SERVING_CLIENTS_TABLE": "serving-layer-dev-ClientsTable-1A2B",
    }
    for function in ("QueryFunction", "ManageFunction"):
        assert environment[function]["SERVING_ENGINE"] == "athena"
        assert environment[function]["SERVING_ATHENA_WORKGROUP"] == "serving-layer-dev"
        assert environment[function]["SERVING_NAMESPACE"] == "serving_lake_dev"
        assert len(environment[function]["SERVING_MASK_KEY"]) >= 32
    assert environment["ManageFunction"]["SERVING_IDEMPOTENCY_TABLE"] == (
        "serving-layer-dev-IdempotencyTable-3C4D"
    )
    assert environment["ManageFunction"]["SERVING_AUDIT_TABLE"] == (
        "serving-layer-dev-AuditTable-5E6F"
    )
    names = {name for variables in environment.values() for name in variables}
    assert names <= {setting.name for setting in config.ALL}


def test_the_env_file_is_written_for_its_owner_only(
    moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployed stack, and boto3 pointed at moto
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="outputs-env", TemplateBody=stand_in_template(OUTPUTS))
    target = tmp_path / "env.cloud.json"

    # WHEN the env file is written
    assert stack.main(["--stack", "outputs-env", "--env-json", str(target)]) == 0

    # THEN it holds the functions' variables and only its owner may read the keys in it
    assert set(json.loads(target.read_text())) == {
        "AuthorizerFunction",
        "QueryFunction",
        "ManageFunction",
    }
    assert target.stat().st_mode & 0o777 == 0o600
