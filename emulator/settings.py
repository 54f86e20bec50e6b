"""Settings of the SODA emulator (environment, ``.env``), one object for the service."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from crimestream.settings import BaseServiceSettings

__all__ = ["EmulatorSettings"]


class EmulatorSettings(BaseServiceSettings):
    """Everything ``crimestream emulator`` needs.  Env names are the field names, upper-case."""

    emulator_host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    emulator_port: int = Field(default=8000, ge=0, le=65535, description="Port (0 = any free port).")
    emulator_seed: int = Field(default=42, description="Seed of the generated data and of random faults.")
    emulator_rows: int = Field(default=20_000, ge=0, description="Rows generated at start.")
    emulator_days: int = Field(default=365, ge=1, description="Days of incident history generated at start.")
    emulator_end_date: date | None = Field(
        default=None, description="Newest incident date generated (default: eight days ago)."
    )
    emulator_restamp_share: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of older rows given one mass re-stamp at start."
    )
    soda_dataset_id: str = Field(default="ijzp-q8t2", description="Dataset id served at /resource/{id}.json.")
    emulator_page_cap: int = Field(default=50_000, ge=0, description="Largest $limit (0 = no cap, as SODA 2.1).")
    emulator_location_style: Literal["point", "legacy"] = Field(
        default="point", description="Shape of `location`: GeoJSON point, or the legacy lat/lon object."
    )
    emulator_error_style: Literal["auto", "code", "errorCode"] = Field(
        default="auto",
        description='Error bodies: auto = 404 as {"code","error",...}, 400 as {"message","errorCode",...}; '
        "or force one shape.",
    )
    emulator_require_app_token: bool = Field(
        default=False, description="Throttle (429) requests without an X-App-Token header."
    )
    emulator_app_token: str | None = Field(
        default=None, description="If set, a request's app token must equal it (else 403)."
    )
    emulator_live_interval_seconds: float = Field(
        default=0.0, ge=0.0, description="Seconds between simulated daily loads (0 = no live mode)."
    )
    emulator_live_rows: int = Field(default=650, ge=0, description="New rows per simulated daily load.")
    emulator_live_corrections: int = Field(default=5, ge=0, description="Corrections per simulated daily load.")
    emulator_live_deletions: int = Field(default=1, ge=0, description="Deletions per simulated daily load.")
    emulator_fault_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of data requests that get a random fault."
    )
    emulator_fault_kinds: str = Field(
        default="throttle,error,processing",
        description="Comma list of fault kinds drawn at random: throttle,error,processing,slow,truncate,reset.",
    )
    emulator_faults: str = Field(
        default="",
        description="Faults for the first requests, in order, e.g. 'throttle:2,error,reset'.",
    )
    emulator_retry_after_seconds: int = Field(default=1, ge=0, description="Retry-After of throttle/202 faults.")
    emulator_crash_rows: int = Field(
        default=5_000, ge=0, description="Rows of the traffic-crashes dataset (85ca-t3if) served too (0 = not served)."
    )
    emulator_extra_fields: dict[str, str] = Field(
        default_factory=dict,
        description='Schema drift: fields added to every data row, as JSON, e.g. {"new_field": "x"}.',
    )
    emulator_slow_seconds: float = Field(default=2.0, ge=0.0, description="Delay of 'slow' faults.")
