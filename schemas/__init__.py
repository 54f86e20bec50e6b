"""The Avro schemas: the contract for everyone on the topic.

``schemas/*.avsc`` are the single source of truth; this module only loads them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_DIR", "load_schema", "schema_text"]

SCHEMA_DIR = Path(__file__).resolve().parent


def schema_text(name: str = "chicago_crime") -> str:
    """The schema's JSON text, exactly as kept in the repo."""
    return (SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8")


@cache
def load_schema(name: str = "chicago_crime") -> dict[str, Any]:
    """The parsed schema (a dict), cached."""
    parsed: dict[str, Any] = json.loads(schema_text(name))
    return parsed
