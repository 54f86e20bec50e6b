"""The schema registry's side of the contract: the topic's subject stays BACKWARD compatible.

With compatibility ``BACKWARD`` on ``<topic>-value`` the registry refuses to
register a value schema that a reader using it could not apply to data written
with the previous one, so no writer (ours or anyone's) can break consumers by
accident.  ``ensure_backward_compatibility`` is idempotent and works before the
subject has any version (the Confluent API, and Apicurio's ``ccompat`` API,
accept a subject-level config for a subject not registered yet).  A stricter
level already set by an operator (``BACKWARD_TRANSITIVE``, ``FULL``,
``FULL_TRANSITIVE``) is left alone.
"""

from __future__ import annotations

import logging

from confluent_kafka.schema_registry import SchemaRegistryClient, ServerConfig
from confluent_kafka.schema_registry.common.schema_registry_client import ConfigCompatibilityLevel
from confluent_kafka.schema_registry.error import SchemaRegistryError

from crimestream.errors import BrokerError
from crimestream.schema_registry import registry_client

__all__ = ["AT_LEAST_BACKWARD", "ensure_backward_compatibility", "subject_compatibility", "value_subject"]

log = logging.getLogger(__name__)

# Levels under which every new version can read data written with the previous one.
AT_LEAST_BACKWARD = frozenset({"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"})


def value_subject(topic: str) -> str:
    """The subject of a topic's value schema under the TopicNameStrategy (the serializer's default)."""
    return f"{topic}-value"


def _client(registry_url: str, client: SchemaRegistryClient | None) -> SchemaRegistryClient:
    return client if client is not None else registry_client(registry_url)


def subject_compatibility(registry_url: str, subject: str, *, client: SchemaRegistryClient | None = None) -> str | None:
    """The compatibility level set on ``subject`` itself, or None when it only inherits the global one."""
    registry = _client(registry_url, client)
    try:
        config = registry.get_config(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return None
        raise BrokerError(f"cannot read the registry config of {subject!r}: {exc.error_message}") from None
    level = config.compatibility_level or config.compatibility
    return None if level is None else str(getattr(level, "value", level))


def ensure_backward_compatibility(
    registry_url: str, subject: str, *, client: SchemaRegistryClient | None = None
) -> str:
    """Make the registry enforce BACKWARD (or stricter) compatibility on ``subject``; returns the level in force."""
    registry = _client(registry_url, client)
    current = subject_compatibility(registry_url, subject, client=registry)
    if current in AT_LEAST_BACKWARD:
        return current
    try:
        registry.set_config(subject, ServerConfig(compatibility=ConfigCompatibilityLevel.BACKWARD))
    except SchemaRegistryError as exc:
        raise BrokerError(
            f"cannot set BACKWARD compatibility on {subject!r} at the schema registry: {exc.error_message}"
        ) from None
    log.info("schema registry: compatibility of %s set to BACKWARD (was %s)", subject, current or "inherited")
    return "BACKWARD"
