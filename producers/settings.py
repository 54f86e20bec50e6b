"""The poller's one settings object."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field, SecretStr, model_validator

from crimestream.settings import KafkaSettings

__all__ = ["PollerSettings"]


def _one_year_back() -> date:
    return date.today() - timedelta(days=365)


class PollerSettings(KafkaSettings):
    soda_base_url: str = Field(default="https://data.cityofchicago.org")
    soda_dataset_id: str = Field(default="ijzp-q8t2", description="Defaults to the DATASET spec's dataset id.")
    soda_app_token: SecretStr | None = Field(default=None, description="Sent as X-App-Token; never logged.")
    start_date: date = Field(default_factory=_one_year_back, description="First run: backfill rows updated since.")
    poll_interval_seconds: float = Field(default=300.0, gt=0)
    page_limit: int = Field(default=50_000, ge=1, le=50_000)
    soda_timeout_seconds: float = Field(default=60.0, gt=0)
    soda_max_retries: int = Field(default=8, ge=0)
    soda_backoff_seconds: float = Field(default=1.0, gt=0, description="First retry delay; doubles, with jitter.")
    soda_backoff_max_seconds: float = Field(default=120.0, gt=0)
    reconcile_interval_seconds: float = Field(
        default=86_400.0, ge=0, description="How often deletions are reconciled (0: never in continuous mode)."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of /metrics, /health and /ready.")
    metrics_port: int = Field(default=9101, ge=0, le=65535, description="Port of /metrics, /health, /ready; 0: off.")

    @property
    def ready_max_age_seconds(self) -> float:
        """The poller is ready while its last confirmed page or poll is younger than this."""
        return 2 * self.poll_interval_seconds + 4 * self.soda_timeout_seconds

    @model_validator(mode="after")
    def _dataset_id_follows_dataset(self) -> PollerSettings:
        if "soda_dataset_id" not in self.model_fields_set:
            self.soda_dataset_id = self.spec.dataset_id
        return self
