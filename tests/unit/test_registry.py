"""Backends are found by name, imported only when asked for, and built once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving_layer.engines import engine_class
from serving_layer.errors import EngineUnavailableError
from serving_layer.registry import Registry


class Counter:
    built = 0

    def __init__(self) -> None:
        Counter.built += 1


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(EngineUnavailableError) as caught:
        engine_class("spark")

    assert caught.value.detail == "unknown engine 'spark'; the engines are: athena, duckdb"


def test_a_backend_whose_packages_are_missing_says_what_to_install() -> None:
    registry: Registry[object] = Registry(
        "engine", {"gone": "no_such_module_here:Engine"}, EngineUnavailableError, {"gone": "hint"}
    )

    with pytest.raises(EngineUnavailableError, match=r"engine 'gone' cannot load .*; hint"):
        registry.load("gone")


def test_a_backend_is_built_once_until_reset() -> None:
    registry: Registry[Counter] = Registry(
        "counter", {"one": f"{__name__}:Counter"}, EngineUnavailableError
    )
    Counter.built = 0

    first, second = registry.get("one"), registry.get("one")
    registry.reset()
    third = registry.get("one")

    assert first is second and third is not first
    assert Counter.built == 2


def test_choosing_the_athena_engine_imports_no_local_package() -> None:
    code = (
        "import sys; from serving_layer.engines import engine_class; engine_class('athena'); "
        "print(sorted(m for m in ('duckdb', 'pyarrow', 'pyiceberg') if m in sys.modules))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
