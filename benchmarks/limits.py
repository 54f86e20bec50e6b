"""Limits of this machine on the pipeline's own data: Kafka produce/consume and parquet writes, nothing else.

    python benchmarks/limits.py [--rows 1000000] [--json OUT.json]

``--rows`` rows come from the emulator's calibrated generator (seed 1, four
years of incidents), are normalised as the poller does
(``producers.normalize.normalize_row``) and serialised ONCE to the topic's Avro
schema in Confluent wire format (the registry's schema id, fastavro).  Then, on
the project's own local Kafka + registry:

a. a confluent-kafka ``Producer`` with the exact configuration
   ``producers.publisher.Publisher`` builds (idempotent, ``acks=all``, its
   linger, batch size and lz4 compression; captured from the class, not copied)
   produces those pre-serialised bytes keyed by id, with the poller's headers,
   into a 6-partition topic: events/s until Kafka confirmed every delivery;
b. a confluent-kafka ``Consumer`` reads them back from offset 0 (partitions
   assigned directly: no group rebalance) and decodes every value with fastavro:
   events/s;
c. ``pyarrow.dataset.write_dataset`` writes the same rows (the lake's columns
   plus year/month) to a hive-partitioned ``year=/month=`` parquet folder (zstd,
   like the lake): rows/s;
d. DuckDB ``COPY ... TO dir (FORMAT parquet, PARTITION_BY (year, month))`` of the
   same arrow table (zstd): rows/s.

Generation, normalisation, serialisation and building the arrow table are
excluded from every timing; the parquet writes neither sort nor fsync (the lake
does both), so they are upper bounds.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
import fastavro
import pyarrow as pa
import pyarrow.dataset as ds
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from benchmarks._common import fmt_num, fmt_rate, markdown_table, source_rows, stop_on_sigterm, write_report
from crimestream.errors import ValidationError
from crimestream.schema_registry import registry_client
from crimestream.settings import kafka_client_config
from localkafka import LocalStack
from producers.normalize import normalize_row
from producers.publisher import Publisher, ensure_topics
from producers.registry import value_subject
from producers.settings import PollerSettings
from schemas import load_schema, schema_text
from sinks.lake_schema import LAKE_SCHEMA
from sinks.records import lake_row, partition_of

__all__ = ["Prepared", "main", "prepare"]

Headers = list[tuple[str, str | bytes | None]]
_CHUNK = 50_000
_PARTITION_SCHEMA = pa.schema([("year", pa.int32()), ("month", pa.int32())])
ARROW_SCHEMA = LAKE_SCHEMA.append(pa.field("year", pa.int32(), nullable=False)).append(
    pa.field("month", pa.int32(), nullable=False)
)


@dataclass
class Prepared:
    """The same rows, serialised once: Kafka messages and an arrow table of lake rows."""

    messages: list[tuple[bytes, bytes, Headers]]
    table: pa.Table
    invalid: int
    seconds: float

    @property
    def value_bytes(self) -> int:
        return sum(len(value) for _, value, _ in self.messages)


def _headers(record: dict[str, Any]) -> Headers:
    updated = record["source_updated_at"].astimezone(UTC).isoformat().encode()
    return [("operation", b"upsert"), ("source", b"bench-limits"), ("source_updated_at", updated)]


def _arrow_row(record: dict[str, Any]) -> dict[str, Any]:
    row = lake_row(record)
    row["year"], row["month"] = partition_of(record["date"])
    return row


def _records(rows: Iterable[dict[str, Any]], counter: list[int]) -> Iterator[dict[str, Any]]:
    for raw in rows:
        try:
            yield normalize_row(raw)
        except ValidationError:
            counter[0] += 1  # the poller would dead-letter it


def prepare(rows: int, schema_id: int, check: AvroSerializer, ctx: SerializationContext) -> Prepared:
    """Generate, normalise and serialise ``rows`` rows (the part every timing excludes)."""
    started = time.monotonic()
    parsed = fastavro.parse_schema(load_schema("chicago_crime"))
    header = b"\x00" + schema_id.to_bytes(4, "big")
    messages: list[tuple[bytes, bytes, Headers]] = []
    chunks: list[pa.Table] = []
    pending: list[dict[str, Any]] = []
    invalid = [0]
    for record in _records(source_rows(rows), invalid):
        buffer = io.BytesIO()
        buffer.write(header)
        fastavro.schemaless_writer(buffer, parsed, record)
        value = buffer.getvalue()
        if not messages and value != check(record, ctx):
            raise RuntimeError("fastavro's bytes differ from the poller's AvroSerializer: not the same messages")
        messages.append((record["id"].encode(), value, _headers(record)))
        pending.append(_arrow_row(record))
        if len(pending) >= _CHUNK:
            chunks.append(pa.Table.from_pylist(pending, schema=ARROW_SCHEMA))
            pending = []
    chunks.append(pa.Table.from_pylist(pending, schema=ARROW_SCHEMA))
    table = pa.concat_tables(chunks).combine_chunks()
    return Prepared(messages, table, invalid[0], time.monotonic() - started)


def publisher_config(settings: PollerSettings) -> dict[str, Any]:
    """The librdkafka configuration ``Publisher`` builds, captured from the class itself."""
    captured: dict[str, Any] = {}

    def capture(conf: dict[str, Any]) -> Producer:
        captured.update(conf)
        return Producer(conf)

    with mock.patch("producers.publisher.Producer", side_effect=capture):
        Publisher(settings, source="bench-limits").close()
    return captured


def _warm_up(producer: Producer, topic: str) -> None:
    """One confirmed message to another topic: the idempotent producer id and connections are set up untimed."""
    producer.produce(topic, key=b"warm-up", value=b"{}")
    if producer.flush(60):
        raise RuntimeError(f"the warm-up message to {topic} was not confirmed within 60s")


def produce(
    conf: dict[str, Any], topic: str, messages: list[tuple[bytes, bytes, Headers]], warm_up_topic: str
) -> float:
    """Seconds to produce every message and have Kafka confirm each delivery."""
    producer = Producer(conf)
    _warm_up(producer, warm_up_topic)
    failures: list[str] = []
    confirmed = [0]

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(err.str())
        else:
            confirmed[0] += 1

    started = time.perf_counter()
    for i, (key, value, headers) in enumerate(messages):
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain
        if i % 1000 == 0:
            producer.poll(0)
    left = producer.flush(600)
    seconds = time.perf_counter() - started
    if left or failures or confirmed[0] != len(messages):
        raise RuntimeError(f"{confirmed[0]:,} of {len(messages):,} confirmed; failures: {failures[:3]}")
    return seconds


def consume(base: dict[str, Any], topic: str, partitions: int, expected: int) -> float:
    """Seconds to read ``expected`` events from offset 0 and decode each value with fastavro."""
    parsed = fastavro.parse_schema(load_schema("chicago_crime"))
    conf = base | {
        "group.id": f"bench-limits-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    consumer = Consumer(conf)
    ids: list[str] = []
    try:
        consumer.list_topics(topic, timeout=30)  # connections set up untimed
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        deadline = time.monotonic() + 600
        while len(ids) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=1.0):
                if msg.error() is not None:
                    raise RuntimeError(f"consume failed: {msg.error()}")
                value = msg.value()
                assert value is not None
                record = fastavro.schemaless_reader(io.BytesIO(value[5:]), parsed, None)
                assert isinstance(record, dict)
                ids.append(record["id"])
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    if len(ids) != expected or len(set(ids)) != expected:
        raise RuntimeError(f"read {len(ids):,} events ({len(set(ids)):,} distinct ids), expected {expected:,}")
    return seconds


def _files(folder: Path) -> int:
    return len(list(folder.rglob("*.parquet")))


def write_pyarrow(table: pa.Table, folder: Path) -> tuple[float, int]:
    """Seconds to write a hive-partitioned year/month parquet dataset with pyarrow, and the files written."""
    fmt = ds.ParquetFileFormat()
    started = time.perf_counter()
    ds.write_dataset(
        table,
        folder,
        format=fmt,
        file_options=fmt.make_write_options(compression="zstd"),
        partitioning=ds.partitioning(_PARTITION_SCHEMA, flavor="hive"),
        existing_data_behavior="error",
    )
    return time.perf_counter() - started, _files(folder)


def write_duckdb(table: pa.Table, folder: Path) -> tuple[float, int]:
    """Seconds for DuckDB's ``COPY ... PARTITION_BY (year, month)`` of the arrow table, and the files written."""
    con = duckdb.connect()
    try:
        con.register("bench_rows", table)
        target = str(folder).replace("'", "''")
        started = time.perf_counter()
        con.execute(f"COPY bench_rows TO '{target}' (FORMAT parquet, PARTITION_BY (year, month), COMPRESSION zstd)")
        seconds = time.perf_counter() - started
    finally:
        con.close()
    return seconds, _files(folder)


@dataclass(frozen=True)
class Limits:
    rows: int
    invalid: int
    value_bytes: int
    prepare_s: float
    produce_s: float
    consume_s: float
    pyarrow_s: float
    pyarrow_files: int
    duckdb_s: float
    duckdb_files: int

    def figures(self) -> dict[str, float]:
        n = self.rows
        return {
            "rows": n,
            "produce_events_per_s": n / self.produce_s,
            "consume_events_per_s": n / self.consume_s,
            "pyarrow_write_rows_per_s": n / self.pyarrow_s,
            "duckdb_write_rows_per_s": n / self.duckdb_s,
            "produce_s": self.produce_s,
            "consume_s": self.consume_s,
            "pyarrow_write_s": self.pyarrow_s,
            "duckdb_write_s": self.duckdb_s,
            "avg_value_bytes": self.value_bytes / n,
            "prepare_s": self.prepare_s,
        }

    def markdown(self, linger_ms: object, compression: object) -> str:
        n = self.rows
        table = markdown_table(
            ["step (same rows, pre-serialised)", "seconds", "rate"],
            [
                [
                    f"Kafka produce (idempotent, acks=all, linger {linger_ms} ms, {compression}) to confirmed",
                    f"{self.produce_s:.1f}",
                    f"{fmt_rate(n / self.produce_s)} events/s",
                ],
                [
                    "Kafka consume from offset 0 + fastavro decode",
                    f"{self.consume_s:.1f}",
                    f"{fmt_rate(n / self.consume_s)} events/s",
                ],
                [
                    f"pyarrow write_dataset, hive year/month, zstd ({self.pyarrow_files} files)",
                    f"{self.pyarrow_s:.1f}",
                    f"{fmt_rate(n / self.pyarrow_s)} rows/s",
                ],
                [
                    f"DuckDB COPY PARTITION_BY (year, month), zstd ({self.duckdb_files} files)",
                    f"{self.duckdb_s:.1f}",
                    f"{fmt_rate(n / self.duckdb_s)} rows/s",
                ],
            ],
        )
        return (
            "## Limits of this machine (same data)\n\n"
            f"{fmt_num(n)} generated rows (seed 1, four years), normalised as the poller does and serialised once "
            f"to the topic's Avro schema in Confluent wire format (average value {self.value_bytes / n:,.0f} bytes). "
            "Generation, normalisation, serialisation and building the arrow table "
            f"({self.prepare_s:.0f} s) are excluded from every timing; the parquet writes neither sort nor fsync. "
            "Producer settings are captured from `producers.publisher.Publisher`; the topic has 6 partitions.\n\n"
            f"{table}\n"
        )


def run(rows: int, workdir: Path) -> tuple[Limits, dict[str, Any]]:
    with LocalStack(workdir / "broker") as stack:
        topic = f"bench.limits.{uuid.uuid4().hex[:8]}"
        settings = PollerSettings(
            kafka_bootstrap_servers=stack.kafka.bootstrap_servers,
            schema_registry_url=stack.registry.url,
            crimes_topic=topic,
            data_dir=workdir / "data",
        )
        ensure_topics(settings)
        conf = publisher_config(settings)
        registry = registry_client(settings.schema_registry_url)
        text = schema_text("chicago_crime")
        schema_id = registry.register_schema(value_subject(topic), Schema(text, "AVRO"))
        check = AvroSerializer(registry, text, conf={"auto.register.schemas": True})
        ctx = SerializationContext(topic, MessageField.VALUE)
        print(f"generating, normalising and serialising {rows:,} rows ...", file=sys.stderr, flush=True)
        prepared = prepare(rows, schema_id, check, ctx)
        n = len(prepared.messages)
        print(f"  {n:,} messages in {prepared.seconds:.1f}s; producing ...", file=sys.stderr, flush=True)
        produce_s = produce(conf, topic, prepared.messages, settings.dlq_topic)
        value_bytes = prepared.value_bytes
        prepared.messages.clear()
        print(f"  produced in {produce_s:.1f}s; consuming ...", file=sys.stderr, flush=True)
        consume_s = consume(kafka_client_config(settings), topic, settings.topic_partitions, n)
    print(f"  consumed in {consume_s:.1f}s; writing parquet ...", file=sys.stderr, flush=True)
    pyarrow_s, pyarrow_files = write_pyarrow(prepared.table, workdir / "pyarrow")
    duckdb_s, duckdb_files = write_duckdb(prepared.table, workdir / "duckdb")
    limits = Limits(
        n, prepared.invalid, value_bytes, prepared.seconds, produce_s, consume_s,
        pyarrow_s, pyarrow_files, duckdb_s, duckdb_files,
    )  # fmt: skip
    return limits, conf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of generated data")
    parser.add_argument("--json", type=Path, help="write the report (figures + markdown) here")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="crimestream-bench-limits-") as tmp:
        limits, conf = run(args.rows, Path(tmp))
    markdown = limits.markdown(conf.get("linger.ms"), conf.get("compression.type"))
    report = write_report(args.json, "limits", limits.figures(), markdown)
    print(report.markdown)
    if limits.invalid:
        print(f"note: {limits.invalid:,} generated row(s) were invalid (the poller would dead-letter them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
