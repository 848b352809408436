"""The gateway judges an authorizer's IAM policy as API Gateway does: explicit deny wins, then
any allow, else deny; `*` and `?` wildcards; actions without regard to case."""

from __future__ import annotations

import pytest

from local.iam import InvalidPolicyDocumentError, is_allowed, route_arn

API = "arn:aws:execute-api:us-east-1:000000000000:local/$default"
ME = f"{API}/GET/v1/me"
QUERY = f"{API}/GET/v1/queries/count_orders_by_range"
ROW = f"{API}/DELETE/v1/tables/orders/rows/42"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(*resources: str, action: str | list[str] = "execute-api:Invoke") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": list(resources)}


def deny(*resources: str) -> dict:
    return {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": list(resources)}


def test_the_route_arn_names_region_account_api_stage_method_and_real_path():
    assert route_arn("GET", "/v1/queries/count_orders_by_range") == QUERY


def test_an_exact_resource_is_allowed_and_nothing_else():
    document = policy(allow(ME))

    assert is_allowed(document, ME)
    assert not is_allowed(document, QUERY)
    assert not is_allowed(document, f"{ME}/extra")


def test_no_statement_matching_is_a_deny():
    assert not is_allowed(policy(allow(f"{API}/POST/v1/me")), ME)


def test_a_star_matches_any_run_of_characters_slashes_included():
    document = policy(allow(f"{API}/*/v1/tables/orders/*"))

    assert is_allowed(document, ROW)
    assert is_allowed(document, f"{API}/GET/v1/tables/orders/snapshots")
    assert not is_allowed(document, f"{API}/GET/v1/tables/city/rows/1")


def test_a_question_mark_matches_exactly_one_character():
    document = policy(allow(f"{API}/GET/v1/m?"))

    assert is_allowed(document, ME)
    assert not is_allowed(document, f"{API}/GET/v1/mee")


def test_an_explicit_deny_wins_over_any_allow():
    document = policy(allow(f"{API}/*"), deny(f"{API}/DELETE/*"))

    assert is_allowed(document, ME)
    assert not is_allowed(document, ROW)


def test_a_deny_listed_before_the_allow_still_wins():
    assert not is_allowed(policy(deny(ME), allow(ME)), ME)


def test_actions_compare_without_regard_to_case_and_take_wildcards():
    assert is_allowed(policy(allow(ME, action="EXECUTE-API:invoke")), ME)
    assert is_allowed(policy(allow(ME, action="execute-api:*")), ME)
    assert is_allowed(policy(allow(ME, action=["s3:GetObject", "*"])), ME)
    assert not is_allowed(policy(allow(ME, action="execute-api:ManageConnections")), ME)


def test_resources_compare_with_case():
    assert not is_allowed(policy(allow(ME.replace("/v1/me", "/V1/ME"))), ME)


def test_a_single_statement_object_and_a_single_resource_string_are_accepted():
    document = {"Statement": {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ME}}

    assert is_allowed(document, ME)


def test_not_resource_allows_everything_but_the_listed():
    document = policy({"Effect": "Allow", "Action": "execute-api:Invoke", "NotResource": [ROW]})

    assert is_allowed(document, ME)
    assert not is_allowed(document, ROW)


def test_a_condition_fails_closed():
    # GIVEN statements whose Condition the gateway cannot judge locally
    conditional_allow = {**allow(ME), "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
    conditional_deny = {**deny(ME), "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}

    # THEN the allow never opens the route and the deny always closes it
    assert not is_allowed(policy(conditional_allow), ME)
    assert not is_allowed(policy(allow(ME), conditional_deny), ME)


@pytest.mark.parametrize(
    "document",
    [
        "not a policy",
        {"Version": "2012-10-17"},
        {"Statement": []},
        policy({"Effect": "Maybe", "Action": "execute-api:Invoke", "Resource": ME}),
        policy({"Effect": "Allow", "Resource": ME}),
        policy({"Effect": "Allow", "Action": "execute-api:Invoke"}),
        policy({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [3]}),
    ],
)
def test_a_malformed_policy_is_refused(document):
    with pytest.raises(InvalidPolicyDocumentError):
        is_allowed(document, ME)
