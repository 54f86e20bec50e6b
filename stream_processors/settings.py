"""The processor's one settings object."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from crimestream.settings import KafkaSettings

__all__ = ["ProcessorSettings"]


class ProcessorSettings(KafkaSettings):
    processor_group_id: str = Field(default="crimestream-processor", description="Faust app id / consumer group.")
    batch_max_events: int = Field(default=20_000, ge=1, description="Flush after this many events...")
    batch_max_seconds: float = Field(default=2.0, gt=0, description="...or after this many seconds, idle or not.")
    backfill_batch_events: int = Field(
        default=200_000,
        ge=1,
        description="While behind, merge full batches up to this many events per flush (fewer partition rewrites).",
    )
    backfill_max_seconds: float = Field(
        default=60.0, gt=0, description="...and for at most this long before flushing what was merged."
    )
    registry_max_retries: int = Field(
        default=12, ge=0, description="Retries (backoff up to 30 s) while the schema registry is unreachable."
    )
    processor_stall_seconds: float = Field(
        default=180.0,
        ge=0,
        description="Exit (to be restarted) when committed offsets stand still this long while events wait; 0: never.",
    )
    sink_max_retries: int = Field(default=5, ge=0, description="Retries of a failed flush before the worker stops.")
    metrics_host: str = Field(default="127.0.0.1", description="Address of /metrics, /health and /ready.")
    metrics_port: int = Field(default=9102, ge=0, le=65535, description="Port of /metrics, /health, /ready; 0: off.")
    processor_table_dir: Path | None = Field(
        default=None, description="Where Faust keeps its local table store (default DATA_DIR/state/faust)."
    )
    processor_store: str = Field(
        default="rocksdb://", description="Faust table store: rocksdb:// (local, fast restarts) or memory://."
    )
    processor_session_timeout_seconds: float = Field(
        default=15.0, ge=6, description="How soon a dead worker's partitions move to a live one."
    )
