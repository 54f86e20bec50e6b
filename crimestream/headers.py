"""Kafka message headers, as both client libraries hand them over."""

from __future__ import annotations

from typing import Any

__all__ = ["header_value"]


def header_value(headers: Any, name: str) -> bytes | None:
    """The value of header ``name`` (first one wins) from a list of pairs or a dict; None if absent."""
    items = headers.items() if isinstance(headers, dict) else headers or []
    for key, value in items:
        if key == name:
            return value if isinstance(value, bytes) or value is None else str(value).encode()
    return None
