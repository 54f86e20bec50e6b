"""The soak's settings: environment (``CHAOS_*``), ``.env``, then the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from crimestream.settings import BaseServiceSettings

__all__ = ["ChaosSettings"]


class ChaosSettings(BaseServiceSettings):
    chaos_duration_seconds: float = Field(default=600.0, gt=0, description="Length of the fault-injection window.")
    chaos_seed: int = Field(default=1, description="Seed of the fault schedule, the workload and the emulator.")
    chaos_work_dir: Path | None = Field(
        default=None, description="Broker data, lake, state and logs of the run (default DATA_DIR/chaos; wiped)."
    )
    chaos_rows: int = Field(default=5_000, ge=100, description="Rows the emulator starts with.")
    chaos_mean_fault_gap_seconds: float = Field(default=12.0, gt=0, description="Mean time between two faults.")
    chaos_load_interval_seconds: float = Field(default=5.0, gt=0, description="Seconds between two source loads.")
    chaos_load_rows: int = Field(default=60, ge=0, description="New rows per source load.")
    chaos_load_corrections: int = Field(default=4, ge=0, description="Random corrections per source load.")
    chaos_load_deletions: int = Field(default=2, ge=0, description="Deletions per source load.")
    chaos_source_clock: Literal["wall", "simulated"] = Field(
        default="wall",
        description="Stamps of the source loads: the wall clock (as the portal), or the emulator's live-mode "
        "clock, one simulated day ahead per load (stamps run into the future).",
    )
    chaos_load_moves: int = Field(default=2, ge=0, description="Corrections moving a row to another month, per load.")
    chaos_restart_delay_seconds: float = Field(default=1.0, ge=0, description="Pause before a killed service restarts.")
    chaos_reconcile_interval_seconds: float = Field(
        default=40.0, gt=0, description="The poller's deletion reconciliation period during the soak."
    )
    chaos_warmup_timeout_seconds: float = Field(default=300.0, gt=0, description="Limit of the initial backfill.")
    chaos_settle_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Limit of each catch-up step after the faults stop (a healthy run needs ~30s)."
    )

    @property
    def work_dir(self) -> Path:
        return (self.chaos_work_dir or self.data_dir / "chaos").resolve()
