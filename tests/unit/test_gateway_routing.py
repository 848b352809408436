"""The gateway routes, authorizes, caches, invokes and maps answers as API Gateway does.

It runs over tests/data/template_min.yaml, whose functions (tests/data/gateway_handlers.py)
record the events they get and whose authorizer answers by token; time is a fake clock, so the
cache's TTL is tested without waiting.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import pytest

from local.events import IncomingRequest
from local.gateway import Gateway, GatewayResponse
from local.template import load_stack

MINIMAL = Path(__file__).resolve().parents[1] / "data" / "template_min.yaml"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gateway(clock: Clock) -> Gateway:
    gateway = Gateway(load_stack(MINIMAL), clock=clock)
    assert gateway.functions.load_all() == {}
    return gateway


@pytest.fixture
def recorded(gateway: Gateway):
    """The handlers' module as the gateway imported it, its records emptied for the test."""
    module = importlib.import_module("gateway_handlers")
    module.EVENTS.clear()
    module.AUTHORIZER_EVENTS.clear()
    return module


def call(gateway: Gateway, method: str, target: str, token: str | None = None, **extra):
    headers = [("Host", "127.0.0.1:3000")]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    return gateway.handle(IncomingRequest(method, target, headers=headers, **extra))


def problem(response: GatewayResponse) -> dict:
    assert dict(response.headers)["Content-Type"] == "application/problem+json"
    return json.loads(response.body)


def test_an_allowed_call_reaches_the_function_with_the_authorizers_context(gateway, recorded):
    response = call(gateway, "GET", "/items/42?x=1&x=2", token="good")

    assert response.status == 200
    assert dict(response.headers)["x-echo"] == "yes"
    assert json.loads(response.body)["function"] == "EchoFunction"
    assert response.key_id == "id-good"
    (event,) = recorded.EVENTS
    assert event["routeKey"] == "GET /items/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["requestContext"]["authorizer"] == {"lambda": {"key_id": "id-good"}}


def test_the_authorizer_gets_a_request_event_for_the_real_path(gateway, recorded):
    call(gateway, "GET", "/items/42", token="good")

    (event,) = recorded.AUTHORIZER_EVENTS
    assert event["type"] == "REQUEST"
    assert (
        event["routeArn"]
        == "arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/items/42"
    )
    assert event["identitySource"] == ["Bearer good"]
    assert event["routeKey"] == "GET /items/{id}"


def test_no_identity_source_is_a_401_problem_without_calling_the_authorizer(gateway, recorded):
    response = call(gateway, "GET", "/items/42")

    assert response.status == 401
    body = problem(response)
    assert body["status"] == 401
    assert body["message"] == "Unauthorized"
    assert body["instance"] == "/items/42"
    assert body["request_id"] == response.request_id
    assert "Authorization" in body["detail"]
    assert dict(response.headers)["WWW-Authenticate"].startswith("Bearer")
    assert recorded.AUTHORIZER_EVENTS == []
    assert recorded.EVENTS == []


def test_a_deny_policy_is_a_403_problem(gateway, recorded):
    response = call(gateway, "GET", "/items/42", token="stranger")

    assert response.status == 403
    assert problem(response)["message"] == "Forbidden"
    assert recorded.EVENTS == []


def test_a_route_outside_the_allowed_resources_is_a_403(gateway, recorded):
    response = call(gateway, "POST", "/items", token="items-only")

    assert response.status == 403
    assert recorded.EVENTS == []


def test_an_explicit_deny_beats_an_allow_of_every_route(gateway):
    assert call(gateway, "GET", "/items/1", token="allow-all-but-post").status == 200
    assert call(gateway, "POST", "/items", token="allow-all-but-post").status == 403


def test_a_route_without_an_authorizer_skips_it(gateway, recorded):
    response = call(gateway, "GET", "/open")

    assert response.status == 200
    assert recorded.AUTHORIZER_EVENTS == []
    assert "authorizer" not in recorded.EVENTS[0]["requestContext"]


def test_a_route_missing_from_the_template_is_a_404_problem(gateway):
    for method, target in (("GET", "/nothing"), ("DELETE", "/items/1"), ("GET", "/items")):
        response = call(gateway, method, target, token="good")
        assert response.status == 404
        assert problem(response)["message"] == "Not Found"


def test_the_most_specific_route_wins(gateway, recorded):
    call(gateway, "GET", "/items/special", token="good")
    call(gateway, "GET", "/items/other", token="good")

    assert [e["routeKey"] for e in recorded.EVENTS] == ["GET /items/special", "GET /items/{id}"]


def test_a_greedy_variable_takes_the_rest_of_the_path_for_any_method(gateway, recorded):
    response = call(gateway, "PATCH", "/files/a/b%20c/d.txt", token="good")

    assert response.status == 200
    assert recorded.EVENTS[0]["routeKey"] == "ANY /files/{path+}"
    assert recorded.EVENTS[0]["pathParameters"] == {"path": "a/b c/d.txt"}


def test_the_answer_is_cached_per_identity_for_the_ttl_and_serves_other_routes(
    gateway, recorded, clock
):
    # GIVEN a first call that asks the authorizer
    assert call(gateway, "GET", "/items/1", token="good").status == 200

    # WHEN the same key calls another allowed route and a refused one within the TTL (60 s)
    clock.now += 59
    assert call(gateway, "POST", "/items", token="good").status == 200
    assert call(gateway, "DELETE", "/files/x", token="items-only").status == 403

    # THEN the authorizer was asked once per key, and the cached policy judged each route
    assert [e["identitySource"] for e in recorded.AUTHORIZER_EVENTS] == [
        ["Bearer good"],
        ["Bearer items-only"],
    ]
    assert call(gateway, "DELETE", "/files/x", token="good").status == 200
    assert len(recorded.AUTHORIZER_EVENTS) == 2

    # AND once the TTL has passed, the authorizer is asked again
    clock.now += 2
    call(gateway, "GET", "/items/1", token="good")
    assert len(recorded.AUTHORIZER_EVENTS) == 3


def test_a_zero_ttl_asks_the_authorizer_every_time(clock, recorded):
    gateway = Gateway(load_stack(MINIMAL, {"CacheTtl": "0"}), clock=clock)

    call(gateway, "GET", "/items/1", token="good")
    call(gateway, "GET", "/items/1", token="good")

    assert len(recorded.AUTHORIZER_EVENTS) == 2


@pytest.mark.parametrize("token", ["boom", "garbage", "no-policy"])
def test_an_authorizer_that_fails_is_a_502_problem_without_its_text(gateway, recorded, token):
    response = call(gateway, "GET", "/items/1", token=token)

    assert response.status == 502
    body = problem(response)
    assert body["message"] == "Internal Server Error"
    assert "internal text" not in response.body.decode()
    assert recorded.EVENTS == []


def test_a_function_that_crashes_is_a_502_problem_without_its_text(gateway):
    response = call(gateway, "GET", "/odd/crash")

    assert response.status == 502
    assert "internal text" not in response.body.decode()
    assert problem(response)["type"].endswith("/integration-failed")


def test_a_plain_json_answer_becomes_a_200_json_body(gateway):
    response = call(gateway, "GET", "/odd/plain")

    assert response.status == 200
    assert dict(response.headers)["Content-Type"] == "application/json"
    assert json.loads(response.body) == {"hello": "world"}


def test_a_plain_string_answer_is_sent_as_it_is(gateway):
    response = call(gateway, "GET", "/odd/text")

    assert (response.status, response.body) == (200, b"just text")


def test_a_structured_answer_maps_status_headers_cookies_and_a_base64_body(gateway):
    response = call(gateway, "GET", "/odd/binary")

    assert response.status == 201
    assert response.body == b"\x00\x01\xff"
    assert ("x-count", "2") in response.headers
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2; Path=/"]
    assert ("apigw-requestid", response.request_id) in response.headers


@pytest.mark.parametrize("kind", ["bad-status", "huge"])
def test_an_answer_the_gateway_cannot_send_is_a_502(gateway, kind):
    assert call(gateway, "GET", f"/odd/{kind}").status == 502


def test_a_function_past_its_timeout_is_a_504(gateway):
    # GIVEN the odd function's Timeout cut to 0.1 s (it sleeps 0.3 s on /odd/slow)
    spec = gateway.functions.specs["OddFunction"]
    gateway.functions.specs["OddFunction"] = dataclasses.replace(spec, timeout_seconds=0.1)

    response = call(gateway, "GET", "/odd/slow")

    assert response.status == 504
    assert problem(response)["type"].endswith("/integration-timeout")


def test_the_lambda_context_names_the_function_and_the_request(gateway):
    response = call(gateway, "GET", "/open")

    body = json.loads(response.body)
    assert body["request_id"] == response.request_id
    assert 0 < body["remaining_ms"] <= 5000  # the template's Timeout: 5


def test_a_function_that_cannot_load_answers_502_and_the_others_work(tmp_path, clock):
    # GIVEN a template whose one function names a module that does not exist
    template = tmp_path / "template.yaml"
    template.write_text(
        MINIMAL.read_text()
        .replace("gateway_handlers.odd", "no_such_module.odd")
        .replace("CodeUri: .", f"CodeUri: {MINIMAL.parent}")
    )
    gateway = Gateway(load_stack(template), clock=clock)

    # WHEN it loads
    failures = gateway.functions.load_all()

    # THEN that function is reported and its routes answer 502, while the others still work
    assert list(failures) == ["OddFunction"]
    assert call(gateway, "GET", "/odd/plain").status == 502
    assert call(gateway, "GET", "/open").status == 200


def test_the_access_log_names_the_key_id_and_never_the_key(gateway, caplog):
    caplog.set_level("INFO", logger="local.access")

    call(gateway, "GET", "/items/7?secret=no", token="good")

    (line,) = [r.getMessage() for r in caplog.records if r.name == "local.access"]
    assert line.startswith("GET /items/7 200 ")
    assert "key_id=id-good" in line
    assert "Bearer" not in line
    assert "secret" not in line
