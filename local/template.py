"""What the gateway emulator needs from `template.yaml`: routes, functions and the authorizer.

The template is the single description of the HTTP API, so the emulator reads it instead of
keeping a route list of its own: a route missing from the template is missing locally too.

CloudFormation's short tags (`!Ref`, `!Sub`, `!GetAtt`, …) are not YAML a plain loader accepts;
the loader here turns each into its long form (`{"Ref": …}`, `{"Fn::Sub": …}`) and a small
resolver evaluates the intrinsic functions the emulator meets: parameters (their defaults, or
overrides as `sam --parameter-overrides` gives them), pseudo parameters, `Fn::Sub`, `Fn::Join`,
`Fn::Select`, `Fn::If` with the template's conditions, and `Fn::GetAtt` as a made-up local ARN.

Both ways of declaring the HTTP API's Lambda authorizer are understood: SAM's
`AWS::Serverless::HttpApi` `Auth.Authorizers` (with `Identity.Headers` and `ReauthorizeEvery`),
and a plain `AWS::ApiGatewayV2::Authorizer` (`IdentitySource`, `AuthorizerResultTtlInSeconds`).
See https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/
sam-property-httpapi-lambdaauthorizer.html and the AWS::ApiGatewayV2::Authorizer reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from serving_layer import config

TEMPLATE_FILE = config.PROJECT_ROOT / "template.yaml"

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
API_ID = "local"
STAGE = "$default"

_PSEUDO_PARAMETERS = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "serving-layer-local",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/serving-layer-local/0",
    "AWS::NoValue": None,
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_SAM_DEFAULT_TIMEOUT = 3.0
_SAM_DEFAULT_MEMORY = 128


class TemplateError(ValueError):
    """The template cannot be read, or lacks something the emulator needs."""


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function: where its handler lives and the environment the template gives it."""

    logical_id: str
    handler: str
    code_uri: Path
    environment: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = _SAM_DEFAULT_TIMEOUT
    memory_mb: int = _SAM_DEFAULT_MEMORY

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda authorizer of the HTTP API, as API Gateway will run it."""

    name: str
    function: str
    identity_sources: tuple[str, ...]
    ttl_seconds: int
    simple_responses: bool = False
    payload_version: str = "2.0"


@dataclass(frozen=True)
class RouteSpec:
    """One route: `METHOD /path`, the function that serves it, and its authorizer (or None)."""

    method: str
    path: str
    function: str
    authorizer: str | None

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Stack:
    """Everything the emulator serves, as the template declares it."""

    functions: dict[str, FunctionSpec]
    routes: tuple[RouteSpec, ...]
    authorizers: dict[str, AuthorizerSpec]
    parameters: dict[str, str]


class _CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that reads CloudFormation's short tags as their long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_document(path: str | Path = TEMPLATE_FILE) -> dict[str, Any]:
    """The template as plain data, intrinsic functions in their long form."""
    path = Path(path)
    if not path.exists():
        raise TemplateError(f"no template at {path}; the emulator serves what template.yaml says")
    document = yaml.load(path.read_text(), Loader=_CloudFormationLoader)  # noqa: S506
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} has no `Resources`; it is not a SAM template")
    return document


def load_stack(
    path: str | Path = TEMPLATE_FILE, parameter_overrides: Mapping[str, str] | None = None
) -> Stack:
    """Read the stack the emulator serves from the SAM template at `path`."""
    path = Path(path)
    document = load_document(path)
    resolver = _Resolver(document, dict(parameter_overrides or {}))
    resources: dict[str, Any] = document["Resources"]

    functions = {
        logical_id: _function(logical_id, resource, document, resolver, path.parent)
        for logical_id, resource in resources.items()
        if _type(resource) == "AWS::Serverless::Function"
    }
    authorizers, defaults = _authorizers(resources, resolver)
    routes = _routes(resources, resolver, defaults)
    for route in routes:
        if route.authorizer is not None and route.authorizer not in authorizers:
            raise TemplateError(f"route {route.key} names an unknown authorizer {route.authorizer}")
    for authorizer in authorizers.values():
        # NOTE: only payload format 2.0 (what this stack uses) is emulated; a 1.0 authorizer
        # gets a different event and answers differently, so it is refused rather than misread.
        if authorizer.payload_version != "2.0":
            raise TemplateError(
                f"authorizer {authorizer.name} uses payload format {authorizer.payload_version}; "
                "the local gateway emulates format 2.0 only"
            )
    return Stack(
        functions=functions,
        routes=tuple(routes),
        authorizers=authorizers,
        parameters=resolver.parameters,
    )


def _type(resource: Any) -> str | None:
    return resource.get("Type") if isinstance(resource, dict) else None


def _function(
    logical_id: str,
    resource: dict[str, Any],
    document: dict[str, Any],
    resolver: _Resolver,
    base: Path,
) -> FunctionSpec:
    """A function's properties over the template's `Globals.Function`, as SAM merges them."""
    globals_ = ((document.get("Globals") or {}).get("Function")) or {}
    properties = resource.get("Properties") or {}

    def prop(name: str, default: Any = None) -> Any:
        return resolver.resolve(properties.get(name, globals_.get(name, default)))

    handler = prop("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id} has no `Handler` of the form module.function")

    environment: dict[str, str] = {}
    for source in (globals_, properties):
        variables = resolver.resolve(((source.get("Environment") or {}).get("Variables")) or {})
        environment.update({k: _text(v) for k, v in variables.items() if v is not None})

    code_uri = prop("CodeUri", ".")
    return FunctionSpec(
        logical_id=logical_id,
        handler=handler,
        code_uri=(base / str(code_uri)).resolve(),
        environment=environment,
        timeout_seconds=float(prop("Timeout", _SAM_DEFAULT_TIMEOUT)),
        memory_mb=int(prop("MemorySize", _SAM_DEFAULT_MEMORY)),
    )


def _authorizers(
    resources: dict[str, Any], resolver: _Resolver
) -> tuple[dict[str, AuthorizerSpec], dict[str | None, str | None]]:
    """Every Lambda authorizer, and each API's default authorizer keyed by the API's id.

    The implicit API of events without an `ApiId` is keyed by None.
    """
    found: dict[str, AuthorizerSpec] = {}
    defaults: dict[str | None, str | None] = {}
    for logical_id, resource in resources.items():
        properties = (resource or {}).get("Properties") or {}
        if _type(resource) == "AWS::Serverless::HttpApi":
            auth = resolver.resolve(properties.get("Auth") or {})
            for name, settings in (auth.get("Authorizers") or {}).items():
                if "FunctionArn" in settings:
                    found[name] = _sam_authorizer(name, settings)
            defaults[logical_id] = auth.get("DefaultAuthorizer")
        elif (
            _type(resource) == "AWS::ApiGatewayV2::Authorizer"
            and properties.get("AuthorizerType") == "REQUEST"
        ):
            found[logical_id] = _plain_authorizer(logical_id, properties, resolver)
    return found, defaults


def _sam_authorizer(name: str, settings: dict[str, Any]) -> AuthorizerSpec:
    identity = settings.get("Identity") or {}
    sources = [f"$request.header.{h}" for h in identity.get("Headers") or []]
    sources += [f"$request.querystring.{q}" for q in identity.get("QueryStrings") or []]
    sources += [f"$context.{c}" for c in identity.get("Context") or []]
    sources += [f"$stageVariables.{s}" for s in identity.get("StageVariables") or []]
    return AuthorizerSpec(
        name=name,
        function=_function_of_arn(settings["FunctionArn"], name),
        identity_sources=tuple(sources),
        # SAM's default when `ReauthorizeEvery` is absent is API Gateway's: 300 seconds.
        ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
        simple_responses=_flag(settings.get("EnableSimpleResponses", False)),
        payload_version=str(settings.get("AuthorizerPayloadFormatVersion", "2.0")),
    )


def _plain_authorizer(
    logical_id: str, properties: dict[str, Any], resolver: _Resolver
) -> AuthorizerSpec:
    raw_uri = properties.get("AuthorizerUri")
    sources = resolver.resolve(properties.get("IdentitySource") or [])
    return AuthorizerSpec(
        name=logical_id,
        function=_function_of_arn(resolver.resolve(raw_uri), logical_id),
        identity_sources=tuple(str(s) for s in sources),
        ttl_seconds=int(resolver.resolve(properties.get("AuthorizerResultTtlInSeconds", 0))),
        simple_responses=_flag(resolver.resolve(properties.get("EnableSimpleResponses", False))),
        payload_version=str(
            resolver.resolve(properties.get("AuthorizerPayloadFormatVersion", "2.0"))
        ),
    )


def _function_of_arn(arn: Any, authorizer: str) -> str:
    """The logical id of the function inside the local ARN the resolver made for it."""
    match = re.search(r":function:([A-Za-z0-9]+)", str(arn))
    if match is None:
        raise TemplateError(f"authorizer {authorizer} does not point at a function of the stack")
    return match.group(1)


def _routes(
    resources: dict[str, Any], resolver: _Resolver, defaults: dict[str | None, str | None]
) -> list[RouteSpec]:
    routes = []
    for logical_id, resource in resources.items():
        if _type(resource) != "AWS::Serverless::Function":
            continue
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event in events.values():
            if event.get("Type") != "HttpApi":
                continue
            properties = resolver.resolve(event.get("Properties") or {})
            api = properties.get("ApiId")
            authorizer = (properties.get("Auth") or {}).get("Authorizer", defaults.get(api))
            routes.append(
                RouteSpec(
                    method=str(properties.get("Method", "ANY")).upper(),
                    path=str(properties.get("Path", "$default")),
                    function=logical_id,
                    authorizer=None if authorizer in (None, "NONE") else str(authorizer),
                )
            )
    return routes


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _text(value: Any) -> str:
    """An environment value as Lambda sees it: always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Resolver:
    """Evaluates the intrinsic functions of one template with its parameters."""

    def __init__(self, document: dict[str, Any], overrides: dict[str, str]) -> None:
        self.document = document
        declared = document.get("Parameters") or {}
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"parameter overrides name unknown parameters: {unknown}")
        self.parameters = {
            name: str(overrides.get(name, (spec or {}).get("Default", "")))
            for name, spec in declared.items()
        }
        self.conditions = document.get("Conditions") or {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, argument), *_ = value.items()
            if name == "Ref":
                return self._ref(str(argument))
            if name.startswith("Fn::") or name == "Condition":
                return self._function(name, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[name]
        return name  # a resource: its logical id stands for its physical name

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = (argument if isinstance(argument, list) else [argument, ""])[:2]
            return self._attribute(str(logical_id), str(attribute))
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            separator, items = argument
            return str(separator).join(_text(i) for i in self.resolve(items) if i is not None)
        if name == "Fn::Select":
            index, items = self.resolve(argument)
            return items[int(index)]
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self._condition(condition) else when_false)
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._evaluate({name: argument})
        # NOTE: other intrinsics (Fn::ImportValue, Fn::FindInMap, …) name values that exist only
        # in a deployed account; the emulator has no value for them and leaves them empty.
        return None

    def _attribute(self, logical_id: str, attribute: str) -> str:
        resource = (self.document.get("Resources") or {}).get(logical_id)
        if _type(resource) == "AWS::Serverless::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical_id}"
        return f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{logical_id}/{attribute}"

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = self.resolve(variables)

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return _text(variables[name])
            if "." in name and name.split(".", 1)[0] not in self.parameters:
                return self._attribute(*name.split(".", 1))
            resolved = self._ref(name)
            return "" if resolved is None else _text(resolved)

        return _SUB_VARIABLE.sub(value, str(text)).replace("${!", "${")

    def _condition(self, name: str) -> bool:
        if name not in self.conditions:
            raise TemplateError(f"`Fn::If` names an unknown condition {name!r}")
        return self._evaluate(self.conditions[name])

    def _evaluate(self, expression: Any) -> bool:
        (name, argument), *_ = expression.items()
        if name == "Condition":
            return self._condition(str(argument))
        if name == "Fn::Equals":
            left, right = self.resolve(argument)
            return _text(left) == _text(right)
        if name == "Fn::Not":
            return not self._evaluate(argument[0])
        if name == "Fn::And":
            return all(self._evaluate(item) for item in argument)
        if name == "Fn::Or":
            return any(self._evaluate(item) for item in argument)
        raise TemplateError(f"unsupported condition function {name}")
