"""Settings of ``crimestream broker``."""

from __future__ import annotations

from pydantic import Field

from crimestream.settings import BaseServiceSettings

__all__ = ["BrokerSettings"]


class BrokerSettings(BaseServiceSettings):
    broker_kafka_port: int = Field(default=9092, ge=1, le=65535)
    broker_registry_port: int = Field(default=8081, ge=1, le=65535)
