"""Which portal dataset a pipeline mirrors: a small spec per dataset.

Chicago crimes is the default; any Socrata dataset with a stable key, an
update time and an event time fits the same pipeline by naming its spec in
``DATASET`` (the poller, the processor and the lake all read it).
"""

from __future__ import annotations

from dataclasses import dataclass

from crimestream.errors import ConfigError

__all__ = ["DATASETS", "DatasetSpec", "dataset_spec"]


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # the spec's name, the value of DATASET
    dataset_id: str  # Socrata id, e.g. ijzp-q8t2
    key_field: str  # the record's unique key: the Kafka key and the lake's id column
    update_field: str | None  # fallback update-time field when ':updated_at' is absent
    partition_time_field: str  # the event time the lake partitions by (year=/month= of its Chicago date)
    schema: str  # Avro schema file in schemas/ (without .avsc)
    table: str  # lake table folder: DATA_DIR/lake/<table>/
    topic: str  # default topic name
    portal: str = "https://data.cityofchicago.org"


DATASETS: dict[str, DatasetSpec] = {
    "chicago_crimes": DatasetSpec(
        name="chicago_crimes",
        dataset_id="ijzp-q8t2",
        key_field="id",
        update_field="updated_on",
        partition_time_field="date",
        schema="chicago_crime",
        table="crimes",
        topic="chicago.crimes",
    ),
    "chicago_traffic_crashes": DatasetSpec(
        name="chicago_traffic_crashes",
        dataset_id="85ca-t3if",
        key_field="crash_record_id",
        update_field=None,
        partition_time_field="crash_date",
        schema="chicago_traffic_crash",
        table="traffic_crashes",
        topic="chicago.traffic_crashes",
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown DATASET {name!r}; known: {', '.join(sorted(DATASETS))}") from None
