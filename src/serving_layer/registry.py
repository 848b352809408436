"""A registry of backends by name, each imported on first use and built once per process.

Engines and writers both choose their backend by configuration; the cloud Lambda must never
import the local ones (DuckDB, pyarrow, pyiceberg), so a backend is named by `module:Class` and
only imported when it is asked for, with an install hint when its packages are missing.
"""

from __future__ import annotations

import importlib
import threading
from typing import Generic, TypeVar

from serving_layer.errors import ServingError

T = TypeVar("T")


class Registry(Generic[T]):
    """Backends of one kind (`engine`, `writer`), by name."""

    def __init__(
        self,
        kind: str,
        targets: dict[str, str],
        error: type[ServingError],
        hints: dict[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.targets = targets
        self.error = error
        self.hints = hints or {}
        self._instances: dict[str, T] = {}
        self._lock = threading.Lock()

    def load(self, name: str) -> type[T]:
        """The class registered as `name`, imported now."""
        try:
            target = self.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.targets))
            raise self.error(
                f"unknown {self.kind} {name!r}; the {self.kind}s are: {known}"
            ) from None

        module_name, class_name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            hint = self.hints.get(name, "")
            raise self.error(f"{self.kind} {name!r} cannot load ({error}); {hint}") from None
        cls: type[T] = getattr(module, class_name)
        return cls

    def get(self, name: str) -> T:
        """The process-wide backend called `name`, built with no arguments on first use."""
        with self._lock:
            if name not in self._instances:
                self._instances[name] = self.load(name)()
            return self._instances[name]

    def reset(self) -> None:
        """Forget the built backends, so the next `get` reads its configuration again."""
        with self._lock:
            self._instances.clear()
