"""Emptying a versioned bucket removes every version and delete marker, page after page.

S3 is moto's, over real HTTP, with versioning on as in the stack's lake bucket.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from serving_layer.cloud.buckets import confirmed, empty_bucket


def bucket_with_history(moto_server: str, name: str) -> Any:
    """A versioned bucket: 3 keys of 4 versions each, then 2 of them deleted (2 markers)."""
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for key in ("warehouse/a.parquet", "warehouse/b.parquet", "staging/c.parquet"):
        for version in range(4):
            s3.put_object(Bucket=name, Key=key, Body=f"{key} v{version}".encode())
    s3.delete_object(Bucket=name, Key="warehouse/a.parquet")
    s3.delete_object(Bucket=name, Key="staging/c.parquet")
    return s3


def remaining(s3: Any, bucket: str) -> int:
    listing = s3.list_object_versions(Bucket=bucket)
    return len(listing.get("Versions", [])) + len(listing.get("DeleteMarkers", []))


def test_every_version_and_delete_marker_is_deleted_across_pages(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN 12 object versions and 2 delete markers, listed 5 at a time
    s3 = bucket_with_history(moto_server, "empty-me")
    assert remaining(s3, "empty-me") == 14
    monkeypatch.setattr("serving_layer.cloud.buckets.PAGE", 5)

    # WHEN the bucket is emptied
    deleted = empty_bucket(s3, "empty-me")

    # THEN all 14 went, and CloudFormation can delete the bucket
    assert deleted == 14
    assert remaining(s3, "empty-me") == 0
    s3.delete_bucket(Bucket="empty-me")


def test_an_empty_bucket_is_left_as_it_is(moto_server: str) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="already-empty")

    assert empty_bucket(s3, "already-empty") == 0


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("serving-layer-dev", True), (" serving-layer-dev\n", True), ("yes", False), ("", False)],
)
def test_only_the_stack_name_typed_back_confirms(answer: str, expected: bool) -> None:
    assert confirmed("serving-layer-dev", ask=lambda _: answer) is expected


def test_no_terminal_to_answer_is_a_no() -> None:
    def no_input(_: str) -> str:
        raise EOFError

    assert confirmed("serving-layer-dev", ask=no_input) is False
