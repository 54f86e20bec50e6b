"""BACKWARD compatibility by Avro schema resolution, with fastavro.

A new (reader) schema is BACKWARD compatible with an old (writer) one when a
consumer holding the new schema can read every event written with the old.  We
check it the way a consumer would meet it: write sample records with the old
schema and resolve them into the new one.  The samples cover every branch of
every union and every enum symbol, so a dropped branch or symbol is caught
together with new fields lacking a default and incompatible type changes.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro

__all__ = ["ROOT", "backward_problems", "released_versions", "sample_records"]

ROOT = Path(__file__).resolve().parents[2]

_PRIMITIVE_SAMPLES: dict[str, Any] = {
    "null": lambda i: None,
    "boolean": lambda i: i % 2 == 1,
    "int": lambda i: 1_700 + i,
    "long": lambda i: 1_700_000_000_000_000 + i,
    "float": lambda i: 0.5 + i,
    "double": lambda i: 41.5 + i,
    "bytes": lambda i: f"b{i}".encode(),
    "string": lambda i: f"s{i}",
}


def released_versions(name: str) -> list[tuple[int, Path]]:
    """Every released version of schema ``name`` as (version, path), oldest first."""
    found = []
    for path in (ROOT / "schemas" / "released").glob(f"{name}.v*.avsc"):
        version = path.name.removeprefix(f"{name}.v").removesuffix(".avsc")
        if version.isdigit():
            found.append((int(version), path))
    return sorted(found)


def _value(schema: Any, i: int, named: dict[str, Any]) -> Any:
    if isinstance(schema, list):  # a union: record i takes branch i mod len
        return _value(schema[i % len(schema)], i, named)
    if isinstance(schema, str):
        if schema in _PRIMITIVE_SAMPLES:
            return _PRIMITIVE_SAMPLES[schema](i)
        return _value(named[schema], i, named)
    kind = schema["type"]
    if kind == "record":
        named.setdefault(schema["name"], schema)
        named.setdefault(f"{schema.get('namespace', '')}.{schema['name']}".lstrip("."), schema)
        return {field["name"]: _value(field["type"], i, named) for field in schema["fields"]}
    if kind == "enum":
        named.setdefault(schema["name"], schema)
        return schema["symbols"][i % len(schema["symbols"])]
    if kind == "fixed":
        named.setdefault(schema["name"], schema)
        return bytes([i % 256]) * schema["size"]
    if kind == "array":
        return [_value(schema["items"], i + k, named) for k in range(2)]
    if kind == "map":
        return {f"k{k}": _value(schema["values"], i + k, named) for k in range(2)}
    return _value(kind, i, named)  # {"type": "long", "logicalType": ...}


def _branch_count(schema: Any, seen: set[str] | None = None) -> int:
    """How many samples it takes to visit every union branch and enum symbol."""
    seen = set() if seen is None else seen
    if isinstance(schema, list):
        return max([len(schema), *(_branch_count(branch, seen) for branch in schema)])
    if isinstance(schema, str) or not isinstance(schema, dict):
        return 1
    if schema.get("name") in seen:
        return 1
    if "name" in schema:
        seen.add(schema["name"])
    kind = schema["type"]
    if kind == "record":
        return max([1, *(_branch_count(field["type"], seen) for field in schema["fields"])])
    if kind == "enum":
        return len(schema["symbols"])
    if kind == "array":
        return _branch_count(schema["items"], seen)
    if kind == "map":
        return _branch_count(schema["values"], seen)
    return 1


def sample_records(schema: dict[str, Any]) -> list[Any]:
    """Records valid under ``schema`` that together use every union branch and enum symbol."""
    return [_value(schema, i, {}) for i in range(max(2, _branch_count(schema)))]


def backward_problems(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why a reader with ``new`` cannot read data written with ``old`` (empty: BACKWARD compatible)."""
    try:
        writer = fastavro.parse_schema(json.loads(json.dumps(old)))
        reader = fastavro.parse_schema(json.loads(json.dumps(new)))
    except Exception as exc:  # an unparseable schema is itself the problem
        return [f"schema does not parse: {exc}"]
    problems: list[str] = []
    for record in sample_records(old):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, writer, record)
        try:
            fastavro.schemaless_reader(io.BytesIO(buf.getvalue()), writer, reader)
        except Exception as exc:  # any resolution failure is an incompatibility
            problems.append(f"{type(exc).__name__}: {exc}")
    return sorted(set(problems))
