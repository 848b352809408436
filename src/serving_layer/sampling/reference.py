"""The hand-written reference data of the sample lake, read from `samples/reference/`.

Countries, cities, services and product sizes are real or plausible records kept as JSON so a
reader can check them; each record holds its table's columns plus a few keys that only shape
generated values (a city's UTC offset, a service's promised hours). The word lists in
`vocabulary.json` are what generated client names, addresses and parcel contents are made of.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving_layer import config

# NOTE: found beside the source tree, so generation needs a checkout (or an editable install),
# as local mode does anyway; shipping the files as package data would lift this.
REFERENCE_DIR = config.PROJECT_ROOT / "samples" / "reference"

_WKT_POINT = re.compile(r"^POINT \((-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)\)$")


@dataclass(frozen=True)
class Reference:
    """Every reference record, as read; lists keep the files' order, which ids follow."""

    countries: list[dict[str, Any]]
    cities: list[dict[str, Any]]
    services: list[dict[str, Any]]
    product_sizes: list[dict[str, Any]]
    vocabulary: dict[str, Any]

    def country_index(self) -> dict[int, int]:
        """Position of each country in `countries`, by country id."""
        return {country["id"]: i for i, country in enumerate(self.countries)}


def load(directory: Path = REFERENCE_DIR) -> Reference:
    """Read the reference files in `directory`."""

    def read(name: str) -> Any:
        return json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))

    return Reference(
        countries=read("countries")["countries"],
        cities=read("cities")["cities"],
        services=read("services")["services"],
        product_sizes=read("product_sizes")["product_sizes"],
        vocabulary=read("vocabulary"),
    )


def point_coordinates(point: str) -> tuple[float, float]:
    """`(longitude, latitude)` of a WKT `POINT (x y)`."""
    match = _WKT_POINT.match(point)
    if match is None:
        raise ValueError(f"expected a WKT point like 'POINT (-74.07 4.71)'; got {point!r}")
    return float(match.group(1)), float(match.group(2))
