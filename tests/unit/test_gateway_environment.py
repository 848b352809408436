"""The emulated functions' environment: template, then local defaults, then env.json, then the
shell; the machine's mask and cursor keys made once, readable by their owner only."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest

from local.environment import (
    function_environments,
    import_environment,
    local_secrets,
    read_env_file,
    shared_environment,
)
from local.template import load_stack
from serving_layer import config

TEMPLATE = config.PROJECT_ROOT / "template.yaml"
MINIMAL = Path(__file__).resolve().parents[1] / "data" / "template_min.yaml"


def test_the_query_function_runs_locally_on_duckdb_with_this_machines_keys(tmp_path):
    # GIVEN the real template, whose query function is set up for Athena and Secrets Manager
    stack = load_stack(TEMPLATE)

    # WHEN the emulator layers its environment with a shell that only names the data folder
    environments = function_environments(stack, {}, {"SERVING_DATA_DIR": str(tmp_path)})
    query = environments["QueryFunction"]

    # THEN the engine, store and namespace are the local ones, and the keys are this machine's
    secrets = json.loads((tmp_path / "secrets.json").read_text())
    assert query["SERVING_ENGINE"] == "duckdb"
    assert query["SERVING_POLICY_STORE"] == "local"
    assert query["SERVING_NAMESPACE"] == "lake"
    assert query["SERVING_MASK_KEY"] == secrets["SERVING_MASK_KEY"]
    assert query["SERVING_CURSOR_KEY"] == secrets["SERVING_CURSOR_KEY"]
    assert "resolve:secretsmanager" not in json.dumps(environments)
    # AND what the template sets that still applies locally is kept
    assert query["SERVING_QUERY_DEADLINE_SECONDS"] == "25"
    assert environments["AuthorizerFunction"]["SERVING_AUTH_CACHE_SECONDS"] == "60"


def test_env_json_beats_the_defaults_and_the_shell_beats_env_json(tmp_path):
    stack = load_stack(MINIMAL)
    overrides = {
        "Parameters": {"GATEWAY_TEST_GLOBAL": "from-parameters", "SERVING_ENGINE": "athena"},
        "EchoFunction": {"GATEWAY_TEST_GREETING": "from-function"},
    }
    shell = {"SERVING_DATA_DIR": str(tmp_path), "SERVING_ENGINE": "duckdb", "UNRELATED": "x"}

    environments = function_environments(stack, overrides, shell)

    echo = environments["EchoFunction"]
    assert echo["GATEWAY_TEST_GLOBAL"] == "from-parameters"  # env.json over the template
    assert echo["GATEWAY_TEST_GREETING"] == "from-function"  # the function's own section
    assert echo["SERVING_ENGINE"] == "duckdb"  # the shell over env.json
    assert "UNRELATED" not in echo  # the shell only overrides, it adds nothing
    assert environments["AuthFunction"]["GATEWAY_TEST_GLOBAL"] == "from-parameters"
    assert "GATEWAY_TEST_GREETING" not in environments["AuthFunction"]


def test_the_committed_env_json_names_the_local_backends():
    overrides = read_env_file(config.PROJECT_ROOT / "local" / "env.json")

    assert overrides["Parameters"]["SERVING_ENGINE"] == "duckdb"
    assert overrides["Parameters"]["SERVING_POLICY_STORE"] == "local"


def test_a_missing_env_file_is_no_override_and_a_malformed_one_is_refused(tmp_path):
    assert read_env_file(tmp_path / "absent.json") == {}
    bad = tmp_path / "env.json"
    bad.write_text('{"Parameters": "not an object"}')

    with pytest.raises(ValueError, match="must map"):
        read_env_file(bad)


def test_the_secrets_are_made_once_with_owner_only_permissions(tmp_path):
    first = local_secrets(tmp_path)
    second = local_secrets(tmp_path)

    assert first == second
    assert set(first) == {"SERVING_MASK_KEY", "SERVING_CURSOR_KEY"}
    assert all(len(value) >= 32 for value in first.values())
    assert first["SERVING_MASK_KEY"] != first["SERVING_CURSOR_KEY"]
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


def test_two_folders_get_different_secrets(tmp_path):
    assert local_secrets(tmp_path / "a") != local_secrets(tmp_path / "b")


def test_the_shared_environment_keeps_the_first_value_and_names_the_clash(caplog):
    caplog.set_level(logging.WARNING)
    environments = {"A": {"X": "1", "Y": "same"}, "B": {"X": "2", "Y": "same", "Z": "3"}}

    shared = shared_environment(environments)

    assert shared == {"X": "1", "Y": "same", "Z": "3"}
    assert "X" in caplog.text and "Y" not in caplog.text.split("values for", 1)[1]


def test_import_environment_sets_and_restores(monkeypatch):
    monkeypatch.setenv("GATEWAY_TEST_KEEP", "before")
    monkeypatch.delenv("GATEWAY_TEST_NEW", raising=False)

    with import_environment({"GATEWAY_TEST_KEEP": "during", "GATEWAY_TEST_NEW": "during"}):
        assert os.environ["GATEWAY_TEST_KEEP"] == "during"
        assert os.environ["GATEWAY_TEST_NEW"] == "during"

    assert os.environ["GATEWAY_TEST_KEEP"] == "before"
    assert "GATEWAY_TEST_NEW" not in os.environ
