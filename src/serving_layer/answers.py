"""Engine values as JSON values, one rule for every engine.

An answer's rows are arrays in the order of its `columns`, which name and type each position:

- `timestamp` → ISO 8601 in UTC with a `Z` (`"2025-03-01T08:30:00Z"`, microseconds when set);
- `date` → `"YYYY-MM-DD"`;
- `bigint`, `integer` → JSON integers; `double` → JSON numbers, and NaN or infinity → null,
  which JSON cannot carry;
- `decimal` → a string with every digit, since a JSON number would round it;
- text and booleans as they are; null stays null.

Masks apply after this step (`masks.py`), so they see the same text whichever engine answered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """One engine value as the JSON value the API answers with."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return str(value)


def json_rows(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [[json_value(value) for value in row] for row in rows]


def _instant(value: datetime) -> str:
    # The lake's timestamps are naive UTC; an aware value is converted to UTC first.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"
