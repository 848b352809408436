"""Least privilege, held by a test: every IAM statement of the template names its actions and
this stack's resources, and the few AWS cannot scope are listed here and explained there.

The walk finds every policy document wherever it sits (role policies, managed policies, bucket
policies, the key policy, VPC endpoint policies, both branches of an `Fn::If`) and checks each
`Allow` statement:

- no action with a `*` (no `*`, no `s3:*`, no `s3:Get*`), no `NotAction`, no `NotResource`;
- every resource is a reference to a resource of this template, or an ARN built with `!Sub`
  whose wildcard, if any, comes after such a reference (`${LakeBucket.Arn}/warehouse/*`);
  a key policy's resource is always `*`, which there means the key itself;
- `Principal: "*"` only in VPC endpoint policies (bounded by the callers' own IAM policies);
- roles trust only lambda.amazonaws.com and attach only managed policies of this template;
- functions take their role from the template, never SAM's generated role or policy templates.

`Deny` statements only take permissions away, so a wildcard there widens the protection (the
TLS-only bucket policies deny `s3:*`); they are not restricted.

An exception is keyed by (resource, Sid), pinned to its exact actions, and must carry an
`# iam-exception: <reason>` comment right above its `- Sid:` line in the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.template import load_document
from serving_layer import config

TEMPLATE = config.PROJECT_ROOT / "template.yaml"

# (resource, Sid) -> the exact actions the exception may hold.
EXCEPTIONS: dict[tuple[str, str], set[str]] = {
    ("DataKey", "AccountAdministersKeyThroughIam"): {"kms:*"},
    ("TracingPolicy", "SendTraceSegments"): {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    ("NetworkInterfacePolicy", "DescribeNetworkInterfaces"): {
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
    },
    ("NetworkInterfacePolicy", "ManageNetworkInterfaces"): {
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    },
}
EXCEPTION_MARK = "iam-exception:"
SHORTEST_REASON = 40
_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


@dataclass(frozen=True)
class Statement:
    resource: str  # logical id of the template resource holding the policy
    resource_type: str
    document: str  # the key holding it: PolicyDocument, KeyPolicy, AssumeRolePolicyDocument …
    body: dict[str, Any]

    @property
    def sid(self) -> str:
        return str(self.body.get("Sid", ""))

    @property
    def where(self) -> str:
        return f"{self.resource}/{self.sid or '(no Sid)'}"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def branches(value: Any) -> list[Any]:
    """Both outcomes of an `Fn::If` (flattened), or the value itself."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, when_true, when_false = value["Fn::If"]
        return [*branches(when_true), *branches(when_false)]
    if isinstance(value, dict) and value == {"Ref": "AWS::NoValue"}:
        return []
    return [value]


def statements(document: dict[str, Any]) -> list[Statement]:
    """Every statement of every policy document in the template's resources."""
    found: list[Statement] = []

    def walk(node: Any, resource: str, resource_type: str, key: str) -> None:
        if isinstance(node, dict):
            if "Statement" in node and "Version" in node:
                for raw in as_list(node["Statement"]):
                    for body in branches(raw):
                        found.append(Statement(resource, resource_type, key, body))
                return
            for child_key, child in node.items():
                walk(child, resource, resource_type, child_key)
        elif isinstance(node, list):
            for child in node:
                walk(child, resource, resource_type, key)

    for logical_id, resource in document["Resources"].items():
        for key, value in resource.get("Properties", {}).items():
            walk(value, logical_id, resource["Type"], key)
    return found


def names_own_resource(value: Any, own: set[str]) -> bool:
    """Whether a Resource entry is this stack's: a reference, or an ARN built from one with any
    wildcard after the reference."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"] in own
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return as_list(value["Fn::GetAtt"])[0] in own
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"]
        if not isinstance(text, str):
            return False
        head = text.split("*", 1)[0]
        if "*" not in text:
            return "${" in text  # a fully named ARN: account, region and name
        return any(name in own for name in _SUB_REFERENCE.findall(head))
    return False


def allow_violations(statement: Statement, own: set[str]) -> list[str]:
    body, where = statement.body, statement.where
    problems = []
    for forbidden in ("NotAction", "NotResource", "NotPrincipal"):
        if forbidden in body:
            problems.append(f"{where}: {forbidden} in an Allow statement")

    actions = [str(a) for a in as_list(body.get("Action", []))]
    if not actions:
        problems.append(f"{where}: no Action")
    problems += [f"{where}: wildcard action {a}" for a in actions if "*" in a]

    if statement.resource_type == "AWS::KMS::Key":
        if body.get("Resource") != "*":
            problems.append(f"{where}: a key policy's Resource must be * (the key itself)")
    else:
        for entry in as_list(body.get("Resource", [])):
            for value in branches(entry):
                if not names_own_resource(value, own):
                    problems.append(f"{where}: resource {value!r} is not this stack's")

    principal = body.get("Principal")
    if principal == "*" and statement.resource_type != "AWS::EC2::VPCEndpoint":
        problems.append(f"{where}: Allow to every principal")
    return problems


def violations(document: dict[str, Any]) -> list[str]:
    """What breaks least privilege in `document`, exceptions excluded, as readable lines."""
    own = set(document["Resources"])
    problems = []

    for statement in statements(document):
        if statement.document == "AssumeRolePolicyDocument":
            if statement.body.get("Principal") != {"Service": "lambda.amazonaws.com"}:
                problems.append(f"{statement.resource}: trusts {statement.body.get('Principal')}")
            if statement.body.get("Action") != "sts:AssumeRole":
                problems.append(f"{statement.resource}: trust grants {statement.body['Action']}")
            continue
        if statement.body.get("Effect") != "Allow":
            continue
        if not statement.sid:
            problems.append(f"{statement.where}: an Allow statement without a Sid")

        exception = EXCEPTIONS.get((statement.resource, statement.sid))
        if exception is not None:
            actions = set(as_list(statement.body.get("Action", [])))
            if actions != exception:
                problems.append(f"{statement.where}: exception widened to {sorted(actions)}")
            continue
        problems += allow_violations(statement, own)

    problems += managed_policy_violations(document)
    problems += function_role_violations(document)
    return problems


def managed_policy_violations(document: dict[str, Any]) -> list[str]:
    resources = document["Resources"]
    own_policies = {k for k, v in resources.items() if v["Type"] == "AWS::IAM::ManagedPolicy"}
    problems = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for listed in branches(resource["Properties"].get("ManagedPolicyArns", [])):
            for arn in as_list(listed):
                if not (isinstance(arn, dict) and arn.get("Ref") in own_policies):
                    problems.append(f"{logical_id}: attaches a managed policy not of this stack")
    return problems


def function_role_violations(document: dict[str, Any]) -> list[str]:
    resources = document["Resources"]
    roles = {k for k, v in resources.items() if v["Type"] == "AWS::IAM::Role"}
    globals_ = document.get("Globals", {}).get("Function", {})
    problems = [
        f"Globals: {key} on every function" for key in ("Policies", "Role") if key in globals_
    ]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        if "Policies" in properties:
            problems.append(f"{logical_id}: SAM policies or policy templates instead of a role")
        role = properties.get("Role")
        if not (isinstance(role, dict) and as_list(role.get("Fn::GetAtt", [""]))[0] in roles):
            problems.append(f"{logical_id}: no role of this template (SAM would make one)")
    return problems


def exception_comment(text: str, sid: str) -> str:
    """The comment block right above `- Sid: <sid>` in the template's text."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == f"- Sid: {sid}":
            comment = []
            for above in reversed(lines[:index]):
                if not above.strip().startswith("#"):
                    break
                comment.insert(0, above.strip().lstrip("#").strip())
            return " ".join(comment)
    return ""


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = load_document(TEMPLATE)
    return loaded


def test_the_template_grants_only_named_actions_on_its_own_resources(
    document: dict[str, Any],
) -> None:
    assert violations(document) == []


def test_the_walk_reaches_every_kind_of_policy_document(document: dict[str, Any]) -> None:
    # GIVEN every statement the walk found
    found = {(s.resource, s.sid) for s in statements(document)}

    # THEN it holds statements of roles, managed policies (inside Fn::If too), bucket, key and
    # VPC endpoint policies: a walk that missed a kind would check nothing there
    for expected in [
        ("AuthorizerRole", "ReadClientRecords"),
        ("LakeReadPolicy", "RunQueriesInWorkgroup"),
        ("NetworkInterfacePolicy", "ManageNetworkInterfaces"),
        ("LakeBucketPolicy", "DenyInsecureTransport"),
        ("AccessLogBucketPolicy", "S3DeliversAccessLogsOfStackBuckets"),
        ("DataKey", "CloudWatchLogsEncryptsStackLogGroups"),
        ("S3GatewayEndpoint", "StackBucketsOnly"),
    ]:
        assert expected in found


def test_every_exception_is_explained_next_to_it_in_the_template(
    document: dict[str, Any],
) -> None:
    text = TEMPLATE.read_text()
    present = {(s.resource, s.sid) for s in statements(document)}

    for resource, sid in EXCEPTIONS:
        # GIVEN an allowed exception that the template really holds
        assert (resource, sid) in present, f"stale exception {resource}/{sid}"

        # THEN the comment above it says why, at some length
        comment = exception_comment(text, sid)
        assert EXCEPTION_MARK in comment, f"{resource}/{sid} has no `# {EXCEPTION_MARK}` comment"
        reason = comment.split(EXCEPTION_MARK, 1)[1].strip()
        assert len(reason) >= SHORTEST_REASON, f"{resource}/{sid}: reason too short: {reason!r}"


def test_no_exception_comment_stands_without_its_listed_exception() -> None:
    # GIVEN every `iam-exception` comment in the template
    marked = TEMPLATE.read_text().count(EXCEPTION_MARK)

    # THEN each belongs to one listed exception: the list here is the closed list
    assert marked == len(EXCEPTIONS)


def test_each_function_has_its_own_role(document: dict[str, Any]) -> None:
    resources = document["Resources"]
    roles = [
        resources[name]["Properties"]["Role"]["Fn::GetAtt"][0]
        for name in ("AuthorizerFunction", "QueryFunction", "ManageFunction")
    ]

    assert roles == ["AuthorizerRole", "QueryRole", "ManageRole"]


def test_only_the_manage_role_can_write_the_lake(document: dict[str, Any]) -> None:
    # GIVEN the actions each role holds through its own policy and its managed policies
    granted: dict[str, set[str]] = {}
    managed = {
        s.resource: s for s in statements(document) if s.resource_type.endswith("ManagedPolicy")
    }
    for s in statements(document):
        if s.resource_type == "AWS::IAM::Role" and s.document == "PolicyDocument":
            granted.setdefault(s.resource, set()).update(as_list(s.body["Action"]))
    for role in ("AuthorizerRole", "QueryRole", "ManageRole"):
        arns = branches(document["Resources"][role]["Properties"]["ManagedPolicyArns"])
        for arn in (a for listed in arns for a in as_list(listed)):
            for s in statements(document):
                if s.resource == arn["Ref"] and s.resource in managed:
                    granted.setdefault(role, set()).update(as_list(s.body["Action"]))

    # THEN writes to the lake's files and tables belong to the manage role alone, and the
    # authorizer touches neither Athena nor S3
    writes = {"s3:PutObject", "s3:DeleteObject", "glue:UpdateTable"}
    assert writes <= granted["ManageRole"]
    assert not {"s3:DeleteObject", "glue:UpdateTable"} & granted["QueryRole"]
    assert not any(a.startswith(("athena:", "s3:", "glue:")) for a in granted["AuthorizerRole"])


# The checker itself must fail on what it exists to catch.


def broken(resources: dict[str, Any]) -> dict[str, Any]:
    return {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}}, **resources}}


def managed_policy(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}},
    }


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        (
            {"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": {"Ref": "Bucket"}},
            "wildcard action s3:*",
        ),
        (
            {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            "resource '*' is not this stack's",
        ),
        (
            {
                "Sid": "A",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"},
            },
            "is not this stack's",
        ),
        (
            {"Sid": "A", "Effect": "Allow", "NotAction": "iam:*", "Resource": {"Ref": "Bucket"}},
            "NotAction in an Allow statement",
        ),
        (
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Ref": "Bucket"}},
            "without a Sid",
        ),
        (
            {
                "Sid": "A",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": {"Fn::If": ["C", {"Ref": "Bucket"}, "*"]},
            },
            "resource '*' is not this stack's",
        ),
    ],
)
def test_the_checker_reports_a_broad_statement(statement: dict[str, Any], complaint: str) -> None:
    found = violations(broken({"Policy": managed_policy(statement)}))

    assert any(complaint in problem for problem in found), found


def test_the_checker_allows_a_wildcard_after_a_stack_reference() -> None:
    statement = {
        "Sid": "ReadObjects",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": {"Fn::Sub": "${Bucket.Arn}/warehouse/*"},
    }

    assert violations(broken({"Policy": managed_policy(statement)})) == []


def test_the_checker_reports_an_aws_managed_policy_and_a_sam_made_role() -> None:
    document = broken(
        {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
                },
            },
            "Function": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Policies": ["AWSLambdaBasicExecutionRole"]},
            },
        }
    )

    found = violations(document)

    assert "Role: attaches a managed policy not of this stack" in found
    assert "Function: SAM policies or policy templates instead of a role" in found
    assert "Function: no role of this template (SAM would make one)" in found


def test_the_checker_reports_a_widened_exception() -> None:
    statement = {
        "Sid": "SendTraceSegments",
        "Effect": "Allow",
        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetTraceSummaries"],
        "Resource": "*",
    }

    found = violations(broken({"TracingPolicy": managed_policy(statement)}))

    assert any("exception widened" in problem for problem in found), found


def test_an_exception_without_its_comment_is_found_missing(tmp_path: Path) -> None:
    text = "Statement:\n  - Sid: Other\n  # iam-exception: reason\n  - Sid: SendTraceSegments\n"

    assert EXCEPTION_MARK not in exception_comment(text, "Other")
    assert exception_comment(text, "SendTraceSegments") == "iam-exception: reason"
