"""Decode events from the topic: Confluent wire-format Avro, tombstones, headers."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from crimestream.datasets import DatasetSpec
from crimestream.errors import RegistryUnavailableError, ValidationError
from crimestream.headers import header_value
from crimestream.schema_registry import registry_client
from schemas import schema_text
from sinks.lake_schema import lake_table
from sinks.records import lake_row, partition_of
from stream_processors.lww import Event, Version

__all__ = ["EventDecoder", "registry_unavailable"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(ts: datetime) -> int:
    delta = ts.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def registry_unavailable(exc: BaseException) -> bool:
    """Is this a failure to reach the registry (retry) rather than a bad value (dead-letter)?

    An unknown schema id (404) is the value's fault; a 5xx, a timeout or a refused
    connection is the registry's, and must never turn a good event into a dead letter.
    """
    if isinstance(exc, SchemaRegistryError):
        return exc.http_status_code != 404 and not 400 <= exc.http_status_code < 500
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    # the registry client's HTTP transport errors (httpx, or the copy it vendors)
    return any(cls.__module__.split(".")[0].startswith("httpx") for cls in type(exc).__mro__)


class EventDecoder:
    """Turns (key, value, headers) into an ``Event``; raises ValidationError for poison."""

    def __init__(self, registry_url: str, topic: str, spec: DatasetSpec) -> None:
        registry = registry_client(registry_url)
        # Our own schema is the reader schema: old writers' events resolve into it.
        self._deserializer = AvroDeserializer(registry, schema_text(spec.schema))
        self._ctx = SerializationContext(topic, MessageField.VALUE)
        self.table = lake_table(spec)

    def decode(self, key: bytes | None, value: bytes | None, headers: Any) -> Event:
        if not key:
            raise ValidationError("event has no key (the record id)")
        record_id = key.decode("utf-8", errors="strict")
        if value is None:
            stamp = header_value(headers, "source_updated_at")
            ts = _micros(datetime.fromisoformat(stamp.decode())) if stamp else 2**62
            return Event(record_id, Version(ts=ts, partition=None, digest="deleted"), None)
        if len(value) < 5 or value[0] != 0:
            raise ValidationError("value is not Confluent wire-format Avro (magic byte 0 + schema id)")
        try:
            record = self._deserializer(value, self._ctx)
        except Exception as exc:  # noqa: BLE001 - classified below: registry down, or poison
            if registry_unavailable(exc):
                raise RegistryUnavailableError(f"schema registry unavailable: {type(exc).__name__}: {exc}") from None
            raise ValidationError(f"undecodable Avro value: {type(exc).__name__}: {exc}") from None
        key_field = self.table.key
        if not isinstance(record, dict) or record.get(key_field) != record_id:
            raise ValidationError(
                f"value's {key_field} {record.get(key_field) if isinstance(record, dict) else None!r} "
                f"does not match the key {record_id!r}"
            )
        digest = hashlib.blake2b(value[5:], digest_size=12).hexdigest()
        version = Version(
            ts=_micros(record["source_updated_at"]),
            partition=partition_of(record[self.table.time_field]),
            digest=digest,
        )
        return Event(record_id, version, lake_row(record, self.table))
