"""The Lambda package ships only the serving code and Powertools, at the project's versions."""

from __future__ import annotations

import re

from serving_layer import config

ROOT = config.PROJECT_ROOT
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file, names normalised as pip compares them."""
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in _PIN.findall(text)}


def test_the_package_carries_powertools_and_its_dependencies_only() -> None:
    shipped = pins((ROOT / "lambda" / "requirements.txt").read_text())

    assert sorted(shipped) == ["aws-lambda-powertools", "jmespath", "typing-extensions"]


def test_the_package_pins_are_the_projects_locked_versions() -> None:
    shipped = pins((ROOT / "lambda" / "requirements.txt").read_text())
    locked = pins((ROOT / "requirements.lock").read_text())

    assert {name: locked.get(name) for name in shipped} == shipped


def test_every_shipped_wheel_is_held_to_its_hash() -> None:
    text = (ROOT / "lambda" / "requirements.txt").read_text()
    entries = [e for e in re.split(r"(?<!\\)\n", text) if e and not e.startswith("#")]

    assert entries and all(re.search(r"--hash=sha256:[0-9a-f]{64}", e) for e in entries)


def test_the_build_leaves_the_operators_scripts_out_and_targets_lambdas_platform() -> None:
    recipe = (ROOT / "lambda" / "Makefile").read_text()

    for target in ("AuthorizerFunction", "QueryFunction", "ManageFunction"):
        assert f"build-{target}" in recipe
    assert 'rm -rf "$(ARTIFACTS_DIR)/serving_layer/cloud"' in recipe
    assert "LAMBDA_PLATFORM := manylinux2014_aarch64" in recipe
    assert "--no-deps --require-hashes" in recipe


def test_the_wheels_are_fetched_for_the_python_the_template_runs() -> None:
    from local.template import load_document

    runtime = load_document(ROOT / "template.yaml")["Globals"]["Function"]["Runtime"]
    recipe = (ROOT / "lambda" / "Makefile").read_text()

    assert f"LAMBDA_PYTHON := {runtime.removeprefix('python')}\n" in recipe


def test_no_lambda_code_imports_the_operators_scripts() -> None:
    # The package leaves serving_layer/cloud out, so an import of it would fail in Lambda.
    package = ROOT / "src" / "serving_layer"
    importers = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if "cloud" not in path.relative_to(package).parts
        and re.search(r"serving_layer\.cloud|from serving_layer import cloud", path.read_text())
    ]

    assert importers == []
