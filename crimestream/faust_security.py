"""The Kafka security settings as Faust (aiokafka) credentials.

The confluent-kafka clients take them through
``crimestream.settings.kafka_client_config``; the Faust processor needs the same
settings as ``broker_credentials``::

    faust.App(..., broker_credentials=faust_broker_credentials(settings))

``KAFKA_SECURITY_PROTOCOL``:

* ``PLAINTEXT``: ``None`` (no credentials);
* ``SSL``: TLS, verified against ``KAFKA_SSL_CA_LOCATION`` (or the system CAs);
* ``SASL_PLAINTEXT`` / ``SASL_SSL``: ``KAFKA_SASL_MECHANISM`` (``PLAIN``,
  ``SCRAM-SHA-256``, ``SCRAM-SHA-512``; default ``PLAIN``) with
  ``KAFKA_SASL_USERNAME`` / ``KAFKA_SASL_PASSWORD``, over TLS for ``SASL_SSL``.

Anything else is a ``ConfigError`` with one line saying what to set.
"""

from __future__ import annotations

import ssl

import faust
from faust.auth import Credentials

from crimestream.errors import ConfigError
from crimestream.settings import KafkaSettings

__all__ = ["SUPPORTED_SASL_MECHANISMS", "faust_broker_credentials"]

SUPPORTED_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _tls_context(settings: KafkaSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_ca_location)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"KAFKA_SSL_CA_LOCATION={settings.kafka_ssl_ca_location!r} is not a readable CA bundle: {exc}"
        ) from None


def faust_broker_credentials(settings: KafkaSettings) -> Credentials | None:
    """Faust credentials for the settings' security protocol (None for ``PLAINTEXT``)."""
    protocol = settings.kafka_security_protocol.strip().upper()
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(_tls_context(settings))
    if protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
        raise ConfigError(
            f"KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol!r} is not supported by the processor; "
            "use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
        )
    mechanism = (settings.kafka_sasl_mechanism or "PLAIN").strip().upper()
    if mechanism not in SUPPORTED_SASL_MECHANISMS:
        raise ConfigError(
            f"KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism!r} is not supported; "
            f"use one of {', '.join(SUPPORTED_SASL_MECHANISMS)}"
        )
    if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
        raise ConfigError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password.get_secret_value(),
        mechanism=mechanism,
        ssl_context=_tls_context(settings) if protocol == "SASL_SSL" else None,
    )
