"""schemas/*.avsc stay BACKWARD compatible with every released version in schemas/released/.

Checked twice: by fastavro schema resolution on sample records (fast, no
broker), and by the real schema registry (the authority consumers meet): the
released versions are registered under a throwaway subject set to BACKWARD,
then the registry is asked whether the current schema is compatible.  The
negative tests prove both checks catch a breaking change.

Every released version is checked, not only the newest: the topic is compacted,
so events written with v1 stay on it for as long as their id is not updated,
and a consumer with today's schema must read them.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from avro_compat_support import ROOT, backward_problems, released_versions, sample_records

from producers.registry import ensure_backward_compatibility, subject_compatibility, value_subject
from tests.conftest import KafkaStack

RELEASED = sorted((ROOT / "schemas" / "released").glob("*.avsc"))
# A schema is checked from its first release on (schemas/released/<name>.v1.avsc); one still being
# written has no consumers yet.
RELEASED_NAMES = sorted({path.name.split(".v")[0] for path in RELEASED})


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _name(released: Path) -> str:
    return released.name.split(".v")[0]


def _with_field(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    changed["fields"].append(field)
    return changed


def _with_type(schema: dict[str, Any], name: str, new_type: Any) -> dict[str, Any]:
    changed = copy.deepcopy(schema)
    for field in changed["fields"]:
        if field["name"] == name:
            field["type"] = new_type
            field.pop("default", None)
    return changed


# Changes a consumer cannot survive, each on top of the current crime schema.
BREAKING = {
    "new required field without default": lambda s: _with_field(s, {"name": "severity", "type": "string"}),
    "field type changed (string -> int)": lambda s: _with_type(s, "beat", "int"),
    "null branch dropped from a union": lambda s: _with_type(s, "beat", "string"),
}
COMPATIBLE = {
    "new optional field with default": lambda s: _with_field(
        s, {"name": "severity", "type": ["null", "string"], "default": None}
    ),
    "field removed": lambda s: {**s, "fields": [f for f in s["fields"] if f["name"] != "location"]},
    "int promoted to long": lambda s: _with_type(s, "year", ["null", "long"]),
}


def test_every_released_schema_is_still_in_schemas() -> None:
    assert RELEASED, "schemas/released/ holds no released schema"
    for path in RELEASED:
        assert released_versions(_name(path)), f"{path.name} is not named <schema>.v<N>.avsc"
        assert (ROOT / "schemas" / f"{_name(path)}.avsc").exists(), (
            f"{path.name} was released but schemas/{_name(path)}.avsc is gone: removing a schema breaks consumers"
        )
    # The crimes topic's schema has shipped: it must always be under the check.
    assert released_versions("chicago_crime")


@pytest.mark.parametrize("released", RELEASED, ids=lambda p: p.name)
def test_current_schema_reads_data_written_with_each_released_version(released: Path) -> None:
    current = _load(ROOT / "schemas" / f"{_name(released)}.avsc")
    problems = backward_problems(_load(released), current)
    assert not problems, f"schemas/{_name(released)}.avsc cannot read data written with {released.name}: {problems}"


def test_samples_cover_every_union_branch() -> None:
    schema = _load(ROOT / "schemas" / "chicago_crime.avsc")
    samples = sample_records(schema)
    assert any(s["beat"] is None for s in samples) and any(isinstance(s["beat"], str) for s in samples)
    assert all(isinstance(s["flags"], list) for s in samples)


@pytest.mark.parametrize("change", sorted(BREAKING), ids=str)
def test_the_fastavro_check_catches_a_breaking_change(change: str) -> None:
    current = _load(ROOT / "schemas" / "chicago_crime.avsc")
    assert backward_problems(current, BREAKING[change](current)), f"{change} was not caught"


@pytest.mark.parametrize("change", sorted(COMPATIBLE), ids=str)
def test_the_fastavro_check_accepts_a_compatible_change(change: str) -> None:
    current = _load(ROOT / "schemas" / "chicago_crime.avsc")
    assert backward_problems(current, COMPATIBLE[change](current)) == []


# --- the real registry ------------------------------------------------------------------------------


def _subject() -> str:
    return value_subject(f"test.compat.{uuid.uuid4().hex[:10]}")


def _registry_says_compatible(registry_url: str, released: list[dict[str, Any]], candidate: dict[str, Any]) -> bool:
    """Register ``released`` under a fresh BACKWARD subject, then ask the registry about ``candidate``."""
    subject = _subject()
    with httpx.Client(base_url=registry_url, timeout=30) as http:
        put = http.put(f"/config/{subject}", json={"compatibility": "BACKWARD"})
        assert put.status_code == 200, put.text
        assert http.get(f"/config/{subject}").json()["compatibilityLevel"] == "BACKWARD"
        for schema in released:
            reg = http.post(f"/subjects/{subject}/versions", json={"schema": json.dumps(schema)})
            assert reg.status_code == 200, f"registering a released version failed: {reg.text}"
        check = http.post(f"/compatibility/subjects/{subject}/versions/latest", json={"schema": json.dumps(candidate)})
        assert check.status_code == 200, check.text
        verdict: bool = check.json()["is_compatible"]
        return verdict


@pytest.mark.integration
@pytest.mark.parametrize("name", RELEASED_NAMES)
def test_the_registry_accepts_each_current_schema_after_its_released_versions(
    kafka_stack: KafkaStack, name: str
) -> None:
    path = ROOT / "schemas" / f"{name}.avsc"
    released = [_load(p) for _, p in released_versions(name)]
    # Registering the versions one by one under BACKWARD also proves each release accepted its predecessor.
    assert _registry_says_compatible(kafka_stack.registry_url, released, _load(path))


@pytest.mark.integration
def test_the_registry_check_catches_breaking_changes_and_accepts_compatible_ones(kafka_stack: KafkaStack) -> None:
    current = _load(ROOT / "schemas" / "chicago_crime.avsc")
    for change, make in BREAKING.items():
        assert not _registry_says_compatible(kafka_stack.registry_url, [current], make(current)), change
    for change, make in COMPATIBLE.items():
        assert _registry_says_compatible(kafka_stack.registry_url, [current], make(current)), change


@pytest.mark.integration
def test_ensure_backward_compatibility_makes_the_registry_refuse_breaking_schemas(kafka_stack: KafkaStack) -> None:
    url = kafka_stack.registry_url
    subject = _subject()
    current = _load(ROOT / "schemas" / "chicago_crime.avsc")
    # Works before the subject has a version (the publisher calls it before its first event).
    assert ensure_backward_compatibility(url, subject) == "BACKWARD"
    assert subject_compatibility(url, subject) == "BACKWARD"
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.post(f"/subjects/{subject}/versions", json={"schema": json.dumps(current)}).status_code == 200
        breaking = BREAKING["new required field without default"](current)
        refused = http.post(f"/subjects/{subject}/versions", json={"schema": json.dumps(breaking)})
        assert refused.status_code == 409, refused.text
        compatible = COMPATIBLE["new optional field with default"](current)
        assert http.post(f"/subjects/{subject}/versions", json={"schema": json.dumps(compatible)}).status_code == 200
        # Idempotent, and a stricter level set by an operator is left alone.
        assert ensure_backward_compatibility(url, subject) == "BACKWARD"
        assert http.put(f"/config/{subject}", json={"compatibility": "FULL_TRANSITIVE"}).status_code == 200
        assert ensure_backward_compatibility(url, subject) == "FULL_TRANSITIVE"
        assert http.get(f"/config/{subject}").json()["compatibilityLevel"] == "FULL_TRANSITIVE"
        # A weaker one is raised back to BACKWARD.
        assert http.put(f"/config/{subject}", json={"compatibility": "NONE"}).status_code == 200
        assert ensure_backward_compatibility(url, subject) == "BACKWARD"
        assert http.get(f"/config/{subject}").json()["compatibilityLevel"] == "BACKWARD"
