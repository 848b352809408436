"""Disguise masked fields after the engine answers, the same way whichever engine answered.

Masks apply to the JSON values of an answer (see `answers.py`), so a value is masked from the
same text whether DuckDB or Athena produced it. Null stays null under every mask.

- `redact`: the value becomes null; the column keeps its type.
- `partial`: text keeps its last characters and every other character becomes `*`; at most 4
  stay visible and never more than a quarter of the text, so short values are hidden whole
  (`"Carrera 7 #45-10"` → `"************5-10"`, `"Ana"` → `"***"`). The length stays visible.
- `hash`: a stable keyed pseudonym, `"h_"` and 16 hex digits of HMAC-SHA256 under the mask key
  (`SERVING_MASK_KEY`) over the client's name and the value's JSON text. Equal values give equal
  pseudonyms for one client, so grouping and joining on them still work, while two clients get
  different pseudonyms for the same value and nobody without the key can test a guess.

A `partial` or `hash` column answers as `varchar`, since its values are text.

NOTE: `partial` keeps the text's length visible, and a `hash` pseudonym of a value from a small
set (a boolean, a service name) can be matched by anyone who sees the same value unmasked
elsewhere for the same client. Policies should use `redact` where either matters.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from serving_layer import config
from serving_layer.policy import Mask
from serving_layer.signing_keys import secret

VISIBLE_CHARACTERS = 4
PSEUDONYM_PREFIX = "h_"
PSEUDONYM_HEX_DIGITS = 16


def partial(text: str) -> str:
    """`text` with all but its last few characters replaced by `*` (see the module's rule)."""
    visible = min(VISIBLE_CHARACTERS, len(text) // 4)
    hidden = len(text) - visible
    return "*" * hidden + text[hidden:]


def pseudonym(value: Any, *, key: bytes, client: str) -> str:
    """The keyed pseudonym of a JSON value for `client`."""
    # The unit separator keeps ("ab", "c") and ("a", "bc") apart.
    message = client.encode() + b"\x1f" + json.dumps(value, sort_keys=True).encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:PSEUDONYM_HEX_DIGITS]


def masked_type(mask: Mask | None, type_: str) -> str:
    """The type a column answers with once `mask` is applied."""
    if mask in (Mask.PARTIAL, Mask.HASH):
        return "varchar"
    return type_


class Masker:
    """Applies one grant's masks to the columns and rows of one answer for one client."""

    def __init__(self, masks: Mapping[str, Mask], client: str, key: bytes | None = None) -> None:
        self.masks = dict(masks)
        self.client = client
        self._key = key

    @property
    def key(self) -> bytes:
        # Only a `hash` mask needs the key, so it is read (and may fail closed) only then.
        if self._key is None:
            self._key = secret(config.MASK_KEY)
        return self._key

    def columns(self, columns: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, masked_type(self.masks.get(name), type_)) for name, type_ in columns]

    def rows(self, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """`rows` (JSON values, in the order of `names`) with every masked position disguised."""
        plan = [(i, self.masks[name]) for i, name in enumerate(names) if name in self.masks]
        if not plan:
            return [list(row) for row in rows]
        masked = []
        for row in rows:
            out = list(row)
            for i, mask in plan:
                out[i] = self.value(mask, out[i])
            masked.append(out)
        return masked

    def value(self, mask: Mask, value: Any) -> Any:
        if value is None or mask is Mask.REDACT:
            return None
        if mask is Mask.PARTIAL:
            return partial(value if isinstance(value, str) else json.dumps(value))
        return pseudonym(value, key=self.key, client=self.client)
