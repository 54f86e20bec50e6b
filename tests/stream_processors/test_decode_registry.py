"""A registry outage must never turn good events into dead letters."""

from __future__ import annotations

import struct

import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

from crimestream.datasets import dataset_spec
from crimestream.errors import RegistryUnavailableError, ValidationError
from localkafka import free_port
from stream_processors.decode import EventDecoder, registry_unavailable

# A value in Confluent wire format: magic byte 0, schema id 7, then (any) Avro body.
VALUE = b"\x00" + struct.pack(">I", 7) + b"\x02"


def test_an_unreachable_registry_is_retryable_not_poison() -> None:
    decoder = EventDecoder(f"http://127.0.0.1:{free_port()}", "crimes", dataset_spec("chicago_crimes"))
    with pytest.raises(RegistryUnavailableError, match="schema registry unavailable"):
        decoder.decode(b"13364090", VALUE, [])


@pytest.mark.parametrize(
    ("exc", "unavailable"),
    [
        (SchemaRegistryError(503, 50003, "overloaded"), True),
        (SchemaRegistryError(500, 50001, "store error"), True),
        (SchemaRegistryError(404, 40403, "Schema not found"), False),
        (SchemaRegistryError(422, 42201, "invalid schema"), False),
        (ConnectionResetError(104, "reset"), True),
        (TimeoutError("read timed out"), True),
        (ValueError("bad Avro"), False),
        (EOFError(), False),
    ],
)
def test_failures_are_classified_registry_down_or_bad_value(exc: BaseException, unavailable: bool) -> None:
    assert registry_unavailable(exc) is unavailable


def test_a_value_without_the_wire_format_is_poison() -> None:
    decoder = EventDecoder(f"http://127.0.0.1:{free_port()}", "crimes", dataset_spec("chicago_crimes"))
    with pytest.raises(ValidationError, match="wire-format"):
        decoder.decode(b"13364090", b"{not avro}", [])
