"""The environment the emulated functions run with, as Lambda would give it, adjusted for local.

Each function's variables are layered, the later winning:

1. the template's `Globals.Function` and the function's own `Environment.Variables`;
2. the local defaults: the DuckDB engine, the local policy store, and the mask and cursor keys
   of this machine (made once, kept in `<data dir>/secrets.json`, readable by its owner only);
3. `local/env.json`, in the format `sam local start-api --env-vars` reads: `Parameters` for
   every function, then an object per function's logical id;
4. the shell's own environment, for the variables it sets (an explicit choice beats a file,
   as in `config.py`).

All functions share one process, so one environment: the union of the functions' variables is
set once. Each handler module is imported with its own function's variables in place, so what a
module reads at import (a logger's service name) is its own.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.template import Stack
from serving_layer import config

logger = logging.getLogger(__name__)

ENV_FILE = config.PROJECT_ROOT / "local" / "env.json"
SECRETS_FILE = "secrets.json"
LOCAL_DEFAULTS = {
    config.ENGINE.name: "duckdb",
    config.POLICY_STORE.name: "local",
    # The template names the Glue database here; the local warehouse has its own namespace.
    config.NAMESPACE.name: config.NAMESPACE.default,
}
_SECRET_SETTINGS = (config.MASK_KEY, config.CURSOR_KEY)


def read_env_file(path: str | Path | None = ENV_FILE) -> dict[str, dict[str, str]]:
    """The overrides of an env.json file (`{"Parameters": {…}, "<Function>": {…}}`), or none."""
    if path is None or not Path(path).exists():
        return {}
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise ValueError(f"{path} must map `Parameters` and function names to objects")
    return {name: {k: str(v) for k, v in values.items()} for name, values in document.items()}


def local_secrets(data_dir: str | Path) -> dict[str, str]:
    """This machine's mask and cursor keys, made on first use and kept for later runs.

    Kept, not made per run, so a cursor handed out before a restart still works and a hashed
    value keeps its pseudonym. The file is created with mode 0600.
    """
    path = Path(data_dir) / SECRETS_FILE
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if all(isinstance(stored.get(s.name), str) for s in _SECRET_SETTINGS):
            return {s.name: stored[s.name] for s in _SECRET_SETTINGS}

    made = {s.name: secrets.token_urlsafe(32) for s in _SECRET_SETTINGS}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        json.dump(made, out, indent=2)
    os.chmod(path, 0o600)
    return made


def function_environments(
    stack: Stack,
    overrides: Mapping[str, Mapping[str, str]],
    shell: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """Each function's variables, layered as the module docstring says."""
    data_dir = shell.get(config.DATA_DIR.name) or overrides.get("Parameters", {}).get(
        config.DATA_DIR.name, config.DATA_DIR.default
    )
    defaults = {**LOCAL_DEFAULTS, **local_secrets(data_dir)}

    environments = {}
    for logical_id, function in stack.functions.items():
        variables = {**function.environment, **defaults}
        variables.update(overrides.get("Parameters", {}))
        variables.update(overrides.get(logical_id, {}))
        variables.update({k: shell[k] for k in variables if k in shell})
        environments[logical_id] = variables
    return environments


def shared_environment(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The one environment of the process: every function's variables.

    NOTE: where two functions give one variable different values, the process can hold only
    one; the first function's (in template order) is kept and a warning names the variable.
    Handlers read such variables at import under their own values (see `import_environment`).
    """
    shared: dict[str, str] = {}
    clashes = set()
    for variables in environments.values():
        for name, value in variables.items():
            if name in shared and shared[name] != value:
                clashes.add(name)
            shared.setdefault(name, value)
    if clashes:
        logger.warning(
            "functions set different values for %s; the process keeps the first",
            ", ".join(sorted(clashes)),
        )
    return shared


class import_environment:
    """Within the block, `os.environ` holds `variables` on top of what it held; then the old."""

    def __init__(self, variables: Mapping[str, str]) -> None:
        self.variables = dict(variables)
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        self._saved = {name: os.environ.get(name) for name in self.variables}
        os.environ.update(self.variables)

    def __exit__(self, *_: object) -> None:
        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
