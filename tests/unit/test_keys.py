"""API keys: their shape, their entropy, their hash, and how cheaply a bad one is refused."""

from __future__ import annotations

import base64
import re
import time

import pytest

from serving_layer import keys

# A well-formed key written by hand, and its SHA-256 from a separate `sha256sum` run.
KNOWN_KEY = "sl_0123abcd_" + "A" * 43
KNOWN_HASH = "04e0ba9ed7c8f2ef44dc7e07d89fc2c4d8b84d4882d091cc79901c5e26c55d05"
KEY_SHAPE = re.compile(r"sl_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def test_a_new_key_has_the_documented_shape_and_256_random_bits() -> None:
    # GIVEN / WHEN a new key
    issued = keys.new_key()

    # THEN it reads sl_<8 hex>_<43 url-safe chars>, its id is its prefix, and the secret
    # decodes to 32 bytes
    assert KEY_SHAPE.fullmatch(issued.key)
    assert issued.key.startswith(f"sl_{issued.key_id}_")
    secret = issued.key.split("_", 2)[2]
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert issued.key_hash == keys.hash_key(issued.key)


def test_new_keys_never_repeat() -> None:
    # GIVEN / WHEN two hundred keys
    made = [keys.new_key() for _ in range(200)]

    # THEN all keys and all hashes differ
    assert len({k.key for k in made}) == 200
    assert len({k.key_hash for k in made}) == 200


def test_the_hash_is_sha256_hex_of_the_whole_key() -> None:
    assert keys.hash_key(KNOWN_KEY) == KNOWN_HASH


def test_printing_an_issued_or_parsed_key_shows_neither_the_key_nor_its_hash() -> None:
    # GIVEN a new key and its parsed form
    issued = keys.new_key()
    parsed = keys.parse_key(issued.key)

    # WHEN they are printed THEN only the key id shows
    for text in (repr(issued), str(issued), repr(parsed)):
        assert issued.key not in text
        assert issued.key_hash not in text
        assert issued.key_id in text


def test_a_well_formed_key_parses_into_its_id_and_hash() -> None:
    parsed = keys.parse_key(KNOWN_KEY)

    assert parsed is not None
    assert parsed.key_id == "0123abcd"
    assert parsed.key_hash == KNOWN_HASH


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "sl_0123abcd_" + "A" * 42,  # secret one short
        "sl_0123abcd_" + "A" * 44,  # secret one long
        "sk_0123abcd_" + "A" * 43,  # another prefix
        "SL_0123abcd_" + "A" * 43,
        "sl_0123ABCD_" + "A" * 43,  # key ids are lowercase hex
        "sl_0123abcg_" + "A" * 43,  # not hex
        "sl_0123abc_" + "A" * 44,  # 7-character id, same length
        "sl_0123abcd-" + "A" * 43,  # wrong separator
        "sl_0123abcd_" + "A" * 42 + "+",  # not URL-safe base64
        "sl_0123abcd_" + "A" * 42 + "=",  # padding
        " sl_0123abcd_" + "A" * 42,  # space inside the length
        "sl_0123abcd_" + "A" * 42 + "\n",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ",  # a JWT
    ],
)
def test_malformed_keys_are_refused(text: str | None) -> None:
    assert keys.parse_key(text) is None


def test_a_huge_header_is_refused_without_being_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a 4 MB string and a hash function that records being called
    calls = []
    monkeypatch.setattr(keys, "hash_key", lambda text: calls.append(text) or "x")

    # WHEN it is parsed
    started = time.perf_counter()
    parsed = keys.parse_key("A" * 4_000_000)

    # THEN it is refused at once, never hashed
    assert parsed is None
    assert calls == []
    assert time.perf_counter() - started < 0.05


def test_hashes_are_compared_with_a_constant_time_function(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a spy on hmac.compare_digest
    seen = []
    real = keys.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys.hmac, "compare_digest", spy)

    # WHEN hashes are compared THEN the answers are right and every one went through it
    assert keys.hashes_match(KNOWN_HASH, KNOWN_HASH) is True
    assert keys.hashes_match(KNOWN_HASH, "0" * 64) is False
    assert keys.hashes_match(KNOWN_HASH, KNOWN_HASH[:-1]) is False
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0123abcd", True), ("0123ABCD", False), ("0123abc", False), ("andes-express", False)],
)
def test_key_ids_are_told_apart_from_client_names(text: str, expected: bool) -> None:
    assert keys.is_key_id(text) is expected
