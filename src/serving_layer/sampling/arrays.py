"""Vectorised column builders: words picked by index, text joined row by row, WKT points.

Every builder takes whole numpy arrays and answers one Arrow array, so no Python loop runs per
row. Text columns are `large_string`, the type pyiceberg's Arrow schemas use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from serving_layer import model

TEXT = pa.large_string()


def table_of(name: str, columns: dict[str, Any]) -> pa.Table:
    """The Arrow table of model table `name` from one value sequence per column.

    The schema comes from the data model, so a column the model does not have, or one it has
    that is not given, fails here rather than in the Iceberg write.
    """
    schema = model.iceberg_schema(model.table(name)).as_arrow()
    if set(columns) != set(schema.names):
        raise ValueError(
            f"table {name} needs the columns {sorted(schema.names)}; got {sorted(columns)}"
        )

    arrays = []
    for field in schema:
        values = columns[field.name]
        if isinstance(values, pa.Array | pa.ChunkedArray):
            arrays.append(values.cast(field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def pick(words: Sequence[str], index: np.ndarray) -> pa.Array:
    """`words[index[i]]` for every row, as text."""
    return pa.array(list(words), type=TEXT).take(pa.array(index))


def digits(values: np.ndarray) -> pa.Array:
    """Integers written in decimal, as text."""
    return pc.cast(pa.array(values), TEXT)


def join(*parts: pa.Array | str) -> pa.Array:
    """Row-wise concatenation of text arrays and literal strings."""
    values = [pa.scalar(part, TEXT) if isinstance(part, str) else part for part in parts]
    return pc.binary_join_element_wise(*values, pa.scalar("", TEXT))


def wkt_points(lon: np.ndarray, lat: np.ndarray, decimals: int = 5) -> pa.Array:
    """`POINT (lon lat)` per row; five decimals place a point within about a metre."""
    x = pc.cast(pa.array(np.round(lon, decimals)), TEXT)
    y = pc.cast(pa.array(np.round(lat, decimals)), TEXT)
    return join("POINT (", x, " ", y, ")")


def timestamps(micros: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Microseconds since the epoch as Arrow timestamps, null where `missing`."""
    return pa.array(micros, type=pa.timestamp("us"), mask=missing)


def doubles(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Floats as Arrow doubles, null where `missing`."""
    return pa.array(values, type=pa.float64(), mask=missing)


def probabilities(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Weights scaled to sum to one, for `Generator.choice`."""
    array = np.asarray(weights, dtype=np.float64)
    return array / array.sum()


def pick_in_groups(
    rng: np.random.Generator, starts: np.ndarray, sizes: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """For each row, a uniform index into its group's slice `[starts[g], starts[g] + sizes[g])`.

    Groups are contiguous runs of a flat array (the streets of a country, the routes of a city,
    the services of a client), so one draw per row picks within the row's own group.
    """
    offsets = np.floor(rng.random(group.size) * sizes[group]).astype(np.int64)
    return starts[group] + offsets


def group_bounds(group_of_item: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of each group's run in a flat array sorted by group."""
    sizes = np.bincount(group_of_item, minlength=groups).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    return starts, sizes
