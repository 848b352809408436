"""API keys: made once, shown once, stored only as a hash, checked in constant time.

A key reads `sl_<key id>_<secret>`:

- `sl_` marks it as a Serving Layer key, so a secret scanner (or a person) recognises a leaked
  one;
- the key id is 8 lowercase hex characters, public: it names the key in logs, in the operator's
  listing and in the authorizer's answer, and reveals nothing about the secret;
- the secret is `secrets.token_urlsafe(32)`: 32 random bytes (256 bits) as 43 URL-safe base64
  characters.

Why plain SHA-256 and not a password hash. Slow hashes (bcrypt, scrypt, Argon2) exist to make
guessing *low-entropy* passwords expensive. A key carries 256 random bits: nobody can enumerate
them, fast hash or not, so a leaked table of SHA-256 hashes gives no key back. A slow hash would
only add tens of milliseconds to every authorizer cache miss. The hash is also the lookup key
of the store (one `GetItem`), which a salted or peppered hash would forbid or complicate.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

PREFIX = "sl_"
KEY_ID_LENGTH = 8
SECRET_BYTES = 32
SECRET_LENGTH = 43  # len(token_urlsafe(32)): 32 bytes in unpadded base64
KEY_LENGTH = len(PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH

_KEY = re.compile(r"sl_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
_KEY_ID = re.compile(r"[0-9a-f]{8}")


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: the only moment the whole key exists outside the client's hands.

    `repr` leaves the key out, so printing or logging the object never shows it.
    """

    key_id: str
    key: str = field(repr=False)
    key_hash: str = field(repr=False)


@dataclass(frozen=True)
class ParsedKey:
    """A well-formed key from a request, split into its public id and its hash."""

    key_id: str
    key_hash: str = field(repr=False)


def new_key() -> IssuedKey:
    """A fresh random key. The caller shows `key` once and keeps only `key_id` and `key_hash`."""
    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return IssuedKey(key_id=key_id, key=key, key_hash=hash_key(key))


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256 of the whole key, 64 lowercase hex characters."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_key(text: str | None) -> ParsedKey | None:
    """The key id and hash of a well-formed key, or None.

    The length check runs first so arbitrary input (a JWT, a 1 MB header) is turned away before
    a regular expression or a hash sees it.
    """
    if text is None or len(text) != KEY_LENGTH:
        return None
    match = _KEY.fullmatch(text)
    if match is None:
        return None
    return ParsedKey(key_id=match.group(1), key_hash=hash_key(text))


def is_key_id(text: str) -> bool:
    """Whether `text` has the shape of a key id (so the operator's CLI can tell it from a name)."""
    return _KEY_ID.fullmatch(text) is not None


def hashes_match(stored_hash: str, presented_hash: str) -> bool:
    """Compare two key hashes in constant time, so timing tells nothing about how many match."""
    return hmac.compare_digest(stored_hash.encode("utf-8"), presented_hash.encode("utf-8"))
