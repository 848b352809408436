"""The template's HTTP API declares exactly the routes of `routes.py`, served by real handlers.

The template is read with the gateway emulator's loader (CloudFormation's short tags in their
long form), the same reading the local API serves from.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pytest

from local.template import load_document
from serving_layer import config
from serving_layer.routes import MANAGE_FUNCTION, QUERY_FUNCTION, ROUTES, Route

TEMPLATE = config.PROJECT_ROOT / "template.yaml"

# The handler each function names, written out here as the independent reference.
HANDLERS = {
    "AuthorizerFunction": "serving_layer.handlers.authorizer.handler",
    QUERY_FUNCTION: "serving_layer.handlers.query.handler",
    MANAGE_FUNCTION: "serving_layer.handlers.manage.handler",
}


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    document: dict[str, Any] = load_document(TEMPLATE)
    return document["Resources"]


def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def http_events(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(function, event properties) of every HttpApi event in the template."""
    return [
        (logical_id, event["Properties"])
        for logical_id, function in functions(resources).items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "HttpApi"
    ]


def as_route(function: str, event: dict[str, Any]) -> Route:
    authorizer = event.get("Auth", {}).get("Authorizer")
    return Route(event["Method"].upper(), event["Path"], function, authorized=authorizer != "NONE")


def test_the_template_declares_exactly_the_route_list(resources: dict[str, Any]) -> None:
    # GIVEN the template's HttpApi events
    declared = [as_route(function, event) for function, event in http_events(resources)]

    # THEN they are the routes of routes.py: same method, path, function and authorization,
    # none missing, none extra, none twice
    assert sorted(declared, key=lambda r: r.key) == sorted(ROUTES, key=lambda r: r.key)
    assert len({route.key for route in declared}) == len(declared)


def test_only_the_openapi_document_is_served_without_the_authorizer(
    resources: dict[str, Any],
) -> None:
    unauthorized = [
        as_route(function, event).key
        for function, event in http_events(resources)
        if not as_route(function, event).authorized
    ]

    assert unauthorized == ["GET /v1/openapi.json"]


def test_every_route_is_on_the_stacks_http_api(resources: dict[str, Any]) -> None:
    api_ids = {str(event.get("ApiId")) for _, event in http_events(resources)}

    assert api_ids == {str({"Ref": "HttpApi"})}
    assert resources["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"


def test_the_api_authorizes_with_the_authorizer_function_by_default(
    resources: dict[str, Any],
) -> None:
    auth = resources["HttpApi"]["Properties"]["Auth"]
    authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]

    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is False
    assert authorizer["Identity"]["Headers"] == ["Authorization"]
    assert authorizer["Identity"]["ReauthorizeEvery"] == {"Ref": "AuthorizerCacheTtl"}


def test_each_function_names_its_handler(resources: dict[str, Any]) -> None:
    named = {
        logical_id: function["Properties"]["Handler"]
        for logical_id, function in functions(resources).items()
    }

    assert named == HANDLERS


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_each_handler_module_that_exists_imports_with_a_callable_handler(function: str) -> None:
    # GIVEN the handler the template names (the handler modules are written alongside the
    # template: one not written yet is reported as skipped, never as passed)
    module_name, attribute = HANDLERS[function].rsplit(".", 1)
    if importlib.util.find_spec(module_name) is None:
        pytest.skip(f"{module_name} does not exist yet")

    # WHEN it is imported
    module = importlib.import_module(module_name)

    # THEN it has the callable entry point Lambda will call
    assert callable(getattr(module, attribute, None)), f"{module_name} has no {attribute}()"
