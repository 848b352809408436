"""The emulator reads its routes, functions and authorizer from the SAM template.

The real template.yaml must give exactly the routes of `routes.ROUTES` (so the local API has
the cloud's routes, no more, no fewer); tests/data/template_min.yaml checks the intrinsic
functions and SAM's merging rules with values worked out by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local.template import TemplateError, load_stack
from serving_layer import config, routes

TEMPLATE = config.PROJECT_ROOT / "template.yaml"
MINIMAL = Path(__file__).resolve().parents[1] / "data" / "template_min.yaml"


def test_the_route_table_is_the_templates_and_the_route_lists():
    # GIVEN the real template
    # WHEN the emulator reads it
    stack = load_stack(TEMPLATE)

    # THEN its routes are those of routes.ROUTES: same method, path, function and authorization
    emulated = sorted(
        (r.method, r.path, r.function, r.authorizer is not None) for r in stack.routes
    )
    listed = sorted((r.method, r.path, r.function, r.authorized) for r in routes.ROUTES)
    assert emulated == listed
    assert len(stack.routes) == 9


def test_the_real_functions_are_the_three_lambda_handlers():
    stack = load_stack(TEMPLATE)

    handlers = {name: spec.handler for name, spec in stack.functions.items()}

    assert handlers == {
        "AuthorizerFunction": "serving_layer.handlers.authorizer.handler",
        "QueryFunction": "serving_layer.handlers.query.handler",
        "ManageFunction": "serving_layer.handlers.manage.handler",
    }
    assert {spec.code_uri for spec in stack.functions.values()} == {config.PROJECT_ROOT / "src"}


def test_the_real_authorizer_reads_the_authorization_header_and_caches_for_the_parameter():
    # GIVEN the template's cache TTL parameter overridden, as `--parameter-overrides` does
    stack = load_stack(TEMPLATE, {"AuthorizerCacheTtl": "2"})

    # THEN the one authorizer is the authorizer function, keyed by the Authorization header
    (authorizer,) = stack.authorizers.values()
    assert authorizer.function == "AuthorizerFunction"
    assert authorizer.identity_sources == ("$request.header.Authorization",)
    assert authorizer.ttl_seconds == 2
    assert authorizer.simple_responses is False
    assert authorizer.payload_version == "2.0"
    # and the same parameter reaches the authorizer function's own cache setting
    assert stack.functions["AuthorizerFunction"].environment["SERVING_AUTH_CACHE_SECONDS"] == "2"


def test_only_the_openapi_document_skips_the_authorizer():
    stack = load_stack(TEMPLATE)

    open_routes = [r.key for r in stack.routes if r.authorizer is None]

    assert open_routes == ["GET /v1/openapi.json"]


def test_intrinsic_functions_and_globals_resolve_as_cloudformation_would():
    # GIVEN the small template with !Sub, !If over a condition, !Ref to a resource and Globals
    stack = load_stack(MINIMAL)
    echo = stack.functions["EchoFunction"]

    # THEN the values are those worked out by hand from the template text
    assert echo.environment == {
        "GATEWAY_TEST_GLOBAL": "from-globals",
        "GATEWAY_TEST_GREETING": "hello from us-east-1",
        "GATEWAY_TEST_TABLE": "EchoTable",
    }
    assert echo.code_uri == MINIMAL.parent
    assert echo.timeout_seconds == 5.0
    assert echo.memory_mb == 128  # SAM's default
    assert stack.functions["AuthFunction"].memory_mb == 256
    assert stack.authorizers["KeyAuthorizer"].ttl_seconds == 60


def test_a_parameter_override_flows_through_conditions():
    # GIVEN an empty greeting, which turns the `Greets` condition false
    stack = load_stack(MINIMAL, {"Greeting": "", "CacheTtl": "0"})

    assert stack.functions["EchoFunction"].environment["GATEWAY_TEST_GREETING"] == "none"
    assert stack.authorizers["KeyAuthorizer"].ttl_seconds == 0


def test_event_routes_take_the_default_authorizer_unless_they_say_none():
    stack = load_stack(MINIMAL)

    table = {r.key: (r.function, r.authorizer) for r in stack.routes}

    assert table == {
        "GET /items/{id}": ("EchoFunction", "KeyAuthorizer"),
        "GET /items/special": ("EchoFunction", "KeyAuthorizer"),
        "POST /items": ("EchoFunction", "KeyAuthorizer"),
        "ANY /files/{path+}": ("EchoFunction", "KeyAuthorizer"),
        "GET /open": ("EchoFunction", None),
        "GET /odd/{kind}": ("OddFunction", None),
    }


def test_an_unknown_parameter_override_is_refused_by_name():
    with pytest.raises(TemplateError, match="NoSuchParameter"):
        load_stack(MINIMAL, {"NoSuchParameter": "1"})


def test_a_missing_template_says_where_it_looked(tmp_path):
    with pytest.raises(TemplateError, match="no template at"):
        load_stack(tmp_path / "template.yaml")


def test_a_plain_api_gateway_v2_authorizer_is_understood(tmp_path):
    # GIVEN an authorizer declared as AWS::ApiGatewayV2::Authorizer rather than through SAM
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Resources:
  Check:
    Type: AWS::Serverless::Function
    Properties:
      Handler: check.handler
      CodeUri: .
  KeyCheck:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref SomeApi
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub
        - arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Target}/invocations
        - Target: !GetAtt Check.Arn
      IdentitySource: [$request.header.X-Api-Key, $request.querystring.tenant]
      AuthorizerResultTtlInSeconds: 120
      AuthorizerPayloadFormatVersion: "2.0"
      EnableSimpleResponses: true
      Name: key-check
"""
    )

    # WHEN the emulator reads it
    (authorizer,) = load_stack(template).authorizers.values()

    # THEN it knows the function, both identity sources, the TTL and the simple answers
    assert authorizer.function == "Check"
    assert authorizer.identity_sources == (
        "$request.header.X-Api-Key",
        "$request.querystring.tenant",
    )
    assert authorizer.ttl_seconds == 120
    assert authorizer.simple_responses is True


def test_an_authorizer_of_payload_format_one_is_refused(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text(
        MINIMAL.read_text()
        .replace('AuthorizerPayloadFormatVersion: "2.0"', 'AuthorizerPayloadFormatVersion: "1.0"')
        .replace("CodeUri: .", f"CodeUri: {MINIMAL.parent}")
    )

    with pytest.raises(TemplateError, match=r"payload format 1\.0"):
        load_stack(template)
