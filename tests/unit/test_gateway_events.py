"""The events the emulator builds have API Gateway's payload-2.0 shapes.

The reference shapes are the recorded events under events/ (what the cloud gateway sends);
the values are worked out by hand from the request each test makes.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from local.events import IncomingRequest, authorizer_event, query_parameters, request_event
from serving_layer import config

EVENTS = config.PROJECT_ROOT / "events"
RECEIVED = datetime(2025, 3, 3, 10, 15, 30, 250000, tzinfo=UTC)


def recorded(path: str) -> dict:
    return json.loads((EVENTS / path).read_text())


def query_request(**changes) -> IncomingRequest:
    fields = {
        "method": "GET",
        "target": "/v1/queries/count_orders_by_range?start=2025-03-01&end=2025-03-04",
        "headers": [
            ("Host", "127.0.0.1:3000"),
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "application/json"),
            ("Authorization", "Bearer sl_x"),
        ],
        "source_ip": "127.0.0.1",
    }
    fields.update(changes)
    return IncomingRequest(**fields)


def build(request: IncomingRequest, path_parameters: dict | None = None) -> dict:
    return request_event(
        request,
        "GET /v1/queries/{endpoint}",
        path_parameters if path_parameters is not None else {"endpoint": "count_orders_by_range"},
        "req-1",
        RECEIVED,
    )


def test_a_request_event_has_the_recorded_events_keys():
    # GIVEN a recorded cloud event of the same route, without the authorizer's part
    reference = recorded("query/get_query.json")
    reference["requestContext"].pop("authorizer")

    # WHEN the emulator builds the event of a similar request
    event = build(query_request())

    # THEN it has the same keys at every level
    assert event.keys() == reference.keys()
    assert event["requestContext"].keys() == reference["requestContext"].keys()
    assert event["requestContext"]["http"].keys() == reference["requestContext"]["http"].keys()


def test_a_request_event_carries_the_request_as_the_gateway_does():
    event = build(query_request())

    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/queries/{endpoint}"
    assert event["rawPath"] == "/v1/queries/count_orders_by_range"
    assert event["rawQueryString"] == "start=2025-03-01&end=2025-03-04"
    assert event["queryStringParameters"] == {"start": "2025-03-01", "end": "2025-03-04"}
    assert event["pathParameters"] == {"endpoint": "count_orders_by_range"}
    assert event["isBase64Encoded"] is False
    assert event["requestContext"] == {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": "127.0.0.1:3000",
        "domainPrefix": "127",
        "http": {
            "method": "GET",
            "path": "/v1/queries/count_orders_by_range",
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "req-1",
        "routeKey": "GET /v1/queries/{endpoint}",
        "stage": "$default",
        "time": "03/Mar/2025:10:15:30 +0000",
        "timeEpoch": 1740996930250,  # 2025-03-03T10:15:30.250Z: 20150 days + 36930.25 s
    }


def test_headers_are_lower_cased_repeats_joined_and_forwarding_added():
    request = query_request(
        headers=[("Host", "127.0.0.1:3000"), ("X-Tag", "a"), ("x-tag", "b"), ("Accept", "*/*")]
    )

    headers = build(request)["headers"]

    assert headers == {
        "host": "127.0.0.1:3000",
        "x-tag": "a,b",
        "accept": "*/*",
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-port": "3000",
        "x-forwarded-proto": "http",
    }


def test_cookies_leave_the_headers_for_their_own_list():
    request = query_request(headers=[("Cookie", "a=1; b=2"), ("Cookie", "c=3")])

    event = build(request)

    assert event["cookies"] == ["a=1", "b=2", "c=3"]
    assert "cookie" not in event["headers"]


def test_repeated_query_parameters_are_joined_with_commas_and_decoded():
    assert query_parameters("a=1&b=x%20y&a=2&c=&a=3") == {"a": "1,2,3", "b": "x y", "c": ""}


def test_empty_parts_are_left_out():
    # GIVEN a request with no query string, no path parameters, no cookies and no body
    event = build(query_request(target="/v1/me"), path_parameters={})

    # THEN those keys are absent, as in the gateway's events, and the raw query is empty
    for absent in ("queryStringParameters", "pathParameters", "cookies", "body"):
        assert absent not in event
    assert event["rawQueryString"] == ""


def test_a_json_body_is_text_and_a_binary_body_is_base64():
    json_body = b'{"rows": [{"id": 1}]}'
    binary_body = b"\x00\x01\xff"

    as_json = build(query_request(headers=[("Content-Type", "application/json")], body=json_body))
    as_binary = build(
        query_request(headers=[("Content-Type", "application/octet-stream")], body=binary_body)
    )

    assert (as_json["body"], as_json["isBase64Encoded"]) == ('{"rows": [{"id": 1}]}', False)
    assert as_binary["isBase64Encoded"] is True
    assert base64.b64decode(as_binary["body"]) == binary_body


def test_an_authorizer_event_has_the_recorded_events_keys_and_values():
    # GIVEN the request event of a query call
    http_event = build(query_request())
    arn = "arn:aws:execute-api:us-east-1:000000000000:local/$default/GET/v1/queries/x"

    # WHEN the emulator builds the authorizer's REQUEST event
    event = authorizer_event(http_event, ["Bearer sl_x"], arn)

    # THEN it has the keys of a recorded one, and the request's own parts
    assert event.keys() == recorded("authorizer/query.json").keys()
    assert event["type"] == "REQUEST"
    assert event["version"] == "2.0"
    assert event["routeArn"] == arn
    assert event["identitySource"] == ["Bearer sl_x"]
    assert event["headers"]["authorization"] == "Bearer sl_x"
    assert event["requestContext"]["requestId"] == "req-1"
    assert "authorizer" not in event["requestContext"]
