"""Typed settings, read from the environment and ``.env``.

Each service has exactly one settings object (``PollerSettings``,
``ProcessorSettings``, ...), built from the shared pieces below.  Secrets are
``SecretStr``: their repr is masked, so they never reach a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crimestream.datasets import DatasetSpec, dataset_spec

__all__ = [
    "BaseServiceSettings",
    "KafkaSettings",
    "kafka_client_config",
]


class BaseServiceSettings(BaseSettings):
    """Shared behaviour: environment first, then ``.env``; unknown names ignored."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    data_dir: Path = Field(default=Path("./data"), description="Root of the lake and state.")
    log_level: str = Field(default="INFO")
    log_json: bool = Field(default=False, description="Emit JSON log lines.")

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"


class KafkaSettings(BaseServiceSettings):
    """Everything a Kafka client of ours needs."""

    dataset: str = Field(default="chicago_crimes", description="Which dataset spec (crimestream.datasets).")
    kafka_bootstrap_servers: str = Field(default="127.0.0.1:9092")
    schema_registry_url: str = Field(default="http://127.0.0.1:8081/apis/ccompat/v7")
    crimes_topic: str = Field(default="chicago.crimes")
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    kafka_security_protocol: str = Field(default="PLAINTEXT")
    kafka_sasl_mechanism: str | None = Field(default=None)
    kafka_sasl_username: str | None = Field(default=None)
    kafka_sasl_password: SecretStr | None = Field(default=None)
    kafka_ssl_ca_location: str | None = Field(default=None)

    @property
    def dlq_topic(self) -> str:
        return f"{self.crimes_topic}.dlq"

    @property
    def spec(self) -> DatasetSpec:
        return dataset_spec(self.dataset)

    @model_validator(mode="after")
    def _topic_follows_dataset(self) -> KafkaSettings:
        spec = dataset_spec(self.dataset)  # raises ConfigError for an unknown name
        if "crimes_topic" not in self.model_fields_set:
            self.crimes_topic = spec.topic
        return self


def kafka_client_config(settings: KafkaSettings) -> dict[str, Any]:
    """librdkafka configuration for the connection and security settings."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        conf["sasl.mechanism"] = settings.kafka_sasl_mechanism
    if settings.kafka_sasl_username:
        conf["sasl.username"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        conf["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_ca_location:
        conf["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return conf
