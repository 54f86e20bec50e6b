"""The one exception tree of crimestream.

    CrimestreamError                 root: catch this to catch everything we raise
    ├── ConfigError                  bad or missing settings (terminal)
    ├── SourceError                  talking to the SODA portal
    │   ├── RetryableSourceError     429 / 5xx / 202 / timeouts / dropped connections
    │   └── TerminalSourceError      a 4xx no retry can fix (unknown dataset, bad query)
    ├── ValidationError              a source row that cannot become a valid event
    ├── BrokerError                  starting or reaching Kafka / the schema registry
    ├── DeliveryError                Kafka did not confirm a produced message
    └── SinkError                    writing the lake
        └── LakeUnwritableError      disk full, permissions: stop, do not acknowledge

Every error is marked ``retryable`` or not, so callers decide retry-or-stop
without matching on types.  Messages are one line, actionable, and never carry
secrets.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ConfigError",
    "CrimestreamError",
    "DeliveryError",
    "LakeUnwritableError",
    "RegistryUnavailableError",
    "RetryableSourceError",
    "SinkError",
    "SourceError",
    "TerminalSourceError",
    "ValidationError",
]


class CrimestreamError(Exception):
    """Root of every error crimestream raises on purpose."""

    retryable: bool = False


class ConfigError(CrimestreamError):
    """A setting is missing or invalid."""


class SourceError(CrimestreamError):
    """The SODA source failed."""


class RetryableSourceError(SourceError):
    """A transient source failure: throttled, server error, timeout, reset."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TerminalSourceError(SourceError):
    """A source failure that retrying cannot fix."""


class ValidationError(CrimestreamError):
    """A source row cannot be turned into a valid event; it goes to the DLQ."""


class BrokerError(CrimestreamError):
    """Kafka or the schema registry could not be started or reached."""


class RegistryUnavailableError(BrokerError):
    """The schema registry did not answer (down, restarting, 5xx): retry, never dead-letter."""

    retryable = True


class DeliveryError(CrimestreamError):
    """Kafka did not confirm delivery of a message."""

    retryable = True


class SinkError(CrimestreamError):
    """Writing the lake failed."""

    retryable = True


class LakeUnwritableError(SinkError):
    """The lake cannot be written at all (disk full, permissions)."""

    retryable = False
