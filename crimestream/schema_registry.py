"""One way to build a schema-registry client: with a request timeout."""

from __future__ import annotations

from confluent_kafka.schema_registry import SchemaRegistryClient

__all__ = ["REGISTRY_TIMEOUT_SECONDS", "registry_client"]

# The client's default is no timeout at all: a registry that accepted the connection
# but never answers (seen once with Apicurio under load) would block a service for
# good.  A timed-out request is retried by the client itself (with backoff).
REGISTRY_TIMEOUT_SECONDS = 15.0


def registry_client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url, "timeout": REGISTRY_TIMEOUT_SECONDS})
