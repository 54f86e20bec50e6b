"""Socrata-style row identifiers (``:id``), e.g. ``row-a2b3-c4d5-e6f7``.

A row id is a 60-bit integer written as twelve base-32 characters in three
groups.  The alphabet is in ASCII order, so comparing the strings is the same as
comparing the integers: the dataset stores and sorts integers, and SoQL
comparisons against arbitrary string literals are translated exactly with
:func:`rank`.
"""

from __future__ import annotations

__all__ = ["ALPHABET", "BITS", "decode", "encode", "rank", "scramble"]

ALPHABET = "23456789abcdefghijkmnpqrstuvwxyz"
BITS = 60
_MASK = (1 << BITS) - 1
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
_PREFIX = "row-"


_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]  # 10 bits -> two characters


def encode(value: int) -> str:
    """The string form of a 60-bit row id."""
    pairs = _PAIRS
    return (
        _PREFIX
        + pairs[(value >> 50) & 1023]
        + pairs[(value >> 40) & 1023]
        + "-"
        + pairs[(value >> 30) & 1023]
        + pairs[(value >> 20) & 1023]
        + "-"
        + pairs[(value >> 10) & 1023]
        + pairs[value & 1023]
    )


def decode(text: str) -> int | None:
    """The integer of a well-formed row id string, else None."""
    if len(text) != 18 or not text.startswith(_PREFIX) or text[8] != "-" or text[13] != "-":
        return None
    value = 0
    for ch in text[4:8] + text[9:13] + text[14:18]:
        digit = _INDEX.get(ch)
        if digit is None:
            return None
        value = (value << 5) | digit
    return value


def rank(text: str) -> int:
    """The number of valid row ids whose string sorts strictly before ``text``.

    So ``encode(r) < text`` exactly when ``r < rank(text)``; ``encode(r) <= text``
    exactly when ``r < rank_le`` where ``rank_le = rank(text) + (decode(text) is not None)``.
    """
    lo, hi = 0, 1 << BITS
    while lo < hi:
        mid = (lo + hi) // 2
        if encode(mid) < text:
            lo = mid + 1
        else:
            hi = mid
    return lo


def scramble(n: int, key: int) -> int:
    """A bijection on 60-bit integers: distinct ``n`` give distinct, random-looking ids."""
    x = (n ^ key) & _MASK
    x = (x * 0x9E3779B97F4A7C1) & _MASK  # odd multiplier: invertible mod 2**60
    x ^= x >> 29
    x = (x * 0xBF58476D1CE4E5B) & _MASK
    x ^= x >> 31
    return x
