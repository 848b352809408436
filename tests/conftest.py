"""Fixtures shared by every test directory.

`moto_server` runs moto's emulated AWS services as a real HTTP server on 127.0.0.1, once per
test session, so boto3 talks to it over real HTTP exactly as it talks to AWS. Dummy credentials
and a fixed region are set for the whole session, and the user's own AWS configuration files
are hidden, so no test can reach a real account.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

MOTO_REGION = "us-east-1"
MOTO_ACCOUNT_ID = "123456789012"  # moto's default account, used with any dummy key

_DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": MOTO_REGION,
    "AWS_REGION": MOTO_REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto server on 127.0.0.1 (e.g. "http://127.0.0.1:PORT").

    Services keep their state for the whole session: tests use names of their own (a table, a
    workgroup) or reset what they touch.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("AWS_PROFILE", raising=False)
        for name, value in _DUMMY_AWS_ENV.items():
            patch.setenv(name, value)

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def fixture_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made Iceberg lake of `tests/fixture_lake.py`, written once per test session.

    Its expected answers (`fixture_lake.EXPECTED…`) are worked out by hand in that module.
    Treat it as read-only: tests that write copy it first.
    """
    import fixture_lake as lake

    return lake.build(tmp_path_factory.mktemp("fixture_lake"))


@pytest.fixture(scope="session")
def fixture_engine(fixture_lake: Path) -> Any:
    """A DuckDB engine over the hand-made fixture lake, shared by the session."""
    from serving_layer.engines.duckdb import DuckDBEngine

    return DuckDBEngine(fixture_lake)


@pytest.fixture
def query_api(fixture_engine: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The query API answering from the fixture lake, with test signing keys set.

    Yields the `serving_layer.query_api` module; call `handle(event, None)` or use the
    `handler` of `serving_layer.handlers.query`.
    """
    from serving_layer import query_api

    monkeypatch.setenv("SERVING_MASK_KEY", "test-mask-key-0123456789abcdef")
    monkeypatch.setenv("SERVING_CURSOR_KEY", "test-cursor-key-0123456789abcdef")
    query_api.use_engine(fixture_engine)
    try:
        yield query_api
    finally:
        query_api.use_engine(None)
