"""The cloud stack's settings that a linter cannot know are ours: names, keys, encryption, logs.

cfn-lint and checkov (`make template-check`) judge the template against AWS's rules; these tests
hold it to this project's: the environment variables `config.py` names, the outputs the cloud
scripts read, the attribute names the policy store uses, and the security settings the design
asks for.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.template import load_document
from serving_layer import config
from serving_layer.cloud.stack import StackOutputs

TEMPLATE = config.PROJECT_ROOT / "template.yaml"
FUNCTIONS = ("AuthorizerFunction", "QueryFunction", "ManageFunction")
BUCKETS = ("LakeBucket", "ResultsBucket", "AccessLogBucket")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = load_document(TEMPLATE)
    return loaded


@pytest.fixture(scope="module")
def resources(document: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["Resources"]
    return found


def properties(resources: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = resources[name]["Properties"]
    return found


def test_the_parameters_the_design_asks_for_exist(document: dict[str, Any]) -> None:
    for name in (
        "Stage",
        "AuthorizerCacheTtl",
        "ResultReuseMinutes",
        "BytesScannedCutoff",
        "VpcMode",
        "VpcCidr",
        "CorsAllowOrigin",
    ):
        assert name in document["Parameters"]
    assert document["Parameters"]["CorsAllowOrigin"]["Default"] == ""
    assert document["Parameters"]["VpcMode"]["AllowedValues"] == ["true", "false"]


def test_every_environment_variable_is_a_setting_of_config(
    document: dict[str, Any], resources: dict[str, Any]
) -> None:
    # GIVEN every variable the template sets, globally and per function
    names = set(document["Globals"]["Function"]["Environment"]["Variables"])
    for function in FUNCTIONS:
        names |= set(properties(resources, function)["Environment"]["Variables"])

    # THEN config.py names each one
    assert names <= {setting.name for setting in config.ALL}


def test_the_functions_get_the_settings_their_work_needs(resources: dict[str, Any]) -> None:
    env = {f: properties(resources, f)["Environment"]["Variables"] for f in FUNCTIONS}

    assert env["AuthorizerFunction"]["SERVING_POLICY_STORE"] == "dynamodb"
    assert env["AuthorizerFunction"]["SERVING_CLIENTS_TABLE"] == {"Ref": "ClientsTable"}
    for function in ("QueryFunction", "ManageFunction"):
        assert env[function]["SERVING_ENGINE"] == "athena"
        assert env[function]["SERVING_ATHENA_WORKGROUP"] == {"Ref": "AthenaWorkGroup"}
        assert env[function]["SERVING_NAMESPACE"] == {"Ref": "GlueDatabase"}
        assert env[function]["SERVING_RESULT_REUSE_MINUTES"] == {"Ref": "ResultReuseMinutes"}
    assert env["ManageFunction"]["SERVING_IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert env["ManageFunction"]["SERVING_AUDIT_TABLE"] == {"Ref": "AuditTable"}
    # The authorizer never holds the signing keys it does not use.
    assert "SERVING_MASK_KEY" not in env["AuthorizerFunction"]


def test_the_signing_keys_come_from_the_stacks_secrets(resources: dict[str, Any]) -> None:
    expected = {
        "SERVING_MASK_KEY": "{{resolve:secretsmanager:${MaskKeySecret}:SecretString}}",
        "SERVING_CURSOR_KEY": "{{resolve:secretsmanager:${CursorKeySecret}:SecretString}}",
    }
    for function in ("QueryFunction", "ManageFunction"):
        env = properties(resources, function)["Environment"]["Variables"]
        for name, reference in expected.items():
            assert env[name] == {"Fn::Sub": reference}
    for secret in ("MaskKeySecret", "CursorKeySecret"):
        assert properties(resources, secret)["KmsKeyId"] == {"Ref": "DataKey"}
        assert properties(resources, secret)["GenerateSecretString"]["PasswordLength"] >= 32


def test_the_outputs_are_those_the_cloud_scripts_read(document: dict[str, Any]) -> None:
    assert sorted(document["Outputs"]) == sorted(StackOutputs.names())


def test_every_function_runs_python_3_12_or_later_on_arm64_traced_and_encrypted(
    document: dict[str, Any], resources: dict[str, Any]
) -> None:
    defaults = document["Globals"]["Function"]

    for function in FUNCTIONS:
        settings = {**defaults, **properties(resources, function)}
        major, minor = map(int, re.fullmatch(r"python(\d)\.(\d+)", settings["Runtime"]).groups())
        assert (major, minor) >= (3, 12)
        assert settings["Architectures"] == ["arm64"]
        assert settings["Tracing"] == "Active"
        assert settings["KmsKeyArn"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
        assert resources[function]["Metadata"]["BuildMethod"] == "makefile"

        # Each writes to a log group of the stack that expires and is encrypted.
        group = settings["LoggingConfig"]["LogGroup"]["Ref"]
        assert properties(resources, group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert properties(resources, group)["KmsKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


def test_the_access_log_is_one_json_object_without_the_authorization_header(
    resources: dict[str, Any],
) -> None:
    settings = properties(resources, "HttpApi")["AccessLogSettings"]
    line = settings["Format"]

    # GIVEN each $context variable replaced by a value, as API Gateway fills them in
    filled = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", line))

    # THEN the line is a JSON object with the fields the design names, the key id from the
    # authorizer's context, and nothing taken from a request header
    assert {"requestId", "routeKey", "status", "latency", "keyId"} <= set(filled)
    assert '"keyId":"$context.authorizer.key_id"' in line
    assert "header" not in line.lower() and "authorization" not in line.lower()
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}


def test_routes_are_throttled_and_cors_exists_only_when_an_origin_is_set(
    resources: dict[str, Any],
) -> None:
    api = properties(resources, "HttpApi")

    assert api["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
    }
    condition, when_set, otherwise = api["CorsConfiguration"]["Fn::If"]
    assert condition == "CorsEnabled"
    assert when_set["AllowOrigins"] == [{"Ref": "CorsAllowOrigin"}]
    assert otherwise == {"Ref": "AWS::NoValue"}


def test_the_clients_table_is_keyed_by_key_hash_encrypted_and_recoverable(
    resources: dict[str, Any],
) -> None:
    table = properties(resources, "ClientsTable")

    assert table["KeySchema"] == [{"AttributeName": "key_hash", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "key_hash", "AttributeType": "S"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEType"] == "KMS"


def test_idempotency_records_expire_by_ttl(resources: dict[str, Any]) -> None:
    table = properties(resources, "IdempotencyTable")

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"]["SSEType"] == "KMS"


def test_audit_records_are_listed_newest_first_within_a_table(resources: dict[str, Any]) -> None:
    table = properties(resources, "AuditTable")

    assert table["KeySchema"] == [
        {"AttributeName": "table_name", "KeyType": "HASH"},
        {"AttributeName": "recorded", "KeyType": "RANGE"},
    ]
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"]["SSEType"] == "KMS"


@pytest.mark.parametrize("bucket", BUCKETS)
def test_every_bucket_is_private_encrypted_and_tls_only(
    resources: dict[str, Any], bucket: str
) -> None:
    settings = properties(resources, bucket)
    blocks = settings["PublicAccessBlockConfiguration"]
    encryption = settings["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    policies = [
        properties(resources, name)["PolicyDocument"]["Statement"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::S3::BucketPolicy"
        and properties(resources, name)["Bucket"] == {"Ref": bucket}
    ]

    assert all(blocks[name] is True for name in blocks) and len(blocks) == 4
    # Server access logs can only land in an SSE-S3 bucket; the others use the stack's key.
    expected = "AES256" if bucket == "AccessLogBucket" else "aws:kms"
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == expected
    assert len(policies) == 1
    deny = next(s for s in policies[0] if s["Sid"] == "DenyInsecureTransport")
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_lake_is_versioned_and_query_results_expire(resources: dict[str, Any]) -> None:
    lake = properties(resources, "LakeBucket")
    results = properties(resources, "ResultsBucket")

    assert lake["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = results["LifecycleConfiguration"]["Rules"]
    assert [r["ExpirationInDays"] for r in rules] == [{"Ref": "ResultExpirationDays"}]


def test_the_data_key_rotates(resources: dict[str, Any]) -> None:
    assert properties(resources, "DataKey")["EnableKeyRotation"] is True


def test_the_workgroup_enforces_engine_3_encryption_and_the_scan_cutoff(
    resources: dict[str, Any],
) -> None:
    settings = properties(resources, "AthenaWorkGroup")["WorkGroupConfiguration"]

    assert settings["EnforceWorkGroupConfiguration"] is True
    assert settings["PublishCloudWatchMetricsEnabled"] is True
    assert settings["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoff"}
    assert settings["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    encryption = settings["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }


def test_vpc_mode_reaches_every_service_the_functions_call_through_endpoints(
    document: dict[str, Any], resources: dict[str, Any]
) -> None:
    # GIVEN the VPC endpoints of the template
    endpoints = {
        properties(resources, name)["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]: properties(
            resources, name
        )["VpcEndpointType"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
    }

    # THEN S3 and DynamoDB go through gateways and the other APIs through interfaces
    assert endpoints == {
        "s3": "Gateway",
        "dynamodb": "Gateway",
        "athena": "Interface",
        "glue": "Interface",
        "kms": "Interface",
        "sts": "Interface",
    }

    # AND everything of the VPC exists only in VPC mode, which also places the functions
    for name, resource in resources.items():
        if resource["Type"].startswith("AWS::EC2::") or name == "NetworkInterfacePolicy":
            assert resource.get("Condition") == "VpcEnabled", name
    placement = document["Globals"]["Function"]["VpcConfig"]["Fn::If"]
    assert placement[0] == "VpcEnabled" and placement[2] == {"Ref": "AWS::NoValue"}


def test_the_private_subnets_have_no_route_out(resources: dict[str, Any]) -> None:
    kinds = {resource["Type"] for resource in resources.values()}

    assert not kinds & {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::Route",
        "AWS::EC2::EgressOnlyInternetGateway",
    }
