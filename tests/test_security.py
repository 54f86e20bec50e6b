"""Kafka security settings: they reach librdkafka and Faust, and the password never shows."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest

from crimestream.errors import ConfigError
from crimestream.faust_security import faust_broker_credentials
from crimestream.logs import configure_logging
from crimestream.settings import kafka_client_config
from producers.settings import PollerSettings

PASSWORD = "kafka-Pa55word-never-logged"
SASL_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9096,broker-2:9096",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "crimestream",
    "KAFKA_SASL_PASSWORD": PASSWORD,
}


def _ca_bundle(tmp_path: Path) -> Path:
    """A CA file the ssl module accepts: the system's default bundle, copied."""
    paths = ssl.get_default_verify_paths()
    source = Path(paths.cafile or paths.openssl_cafile)
    target = tmp_path / "ca.pem"
    target.write_bytes(source.read_bytes())
    return target


@pytest.fixture
def sasl_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    ca = _ca_bundle(tmp_path)
    for name, value in {**SASL_ENV, "KAFKA_SSL_CA_LOCATION": str(ca)}.items():
        monkeypatch.setenv(name, value)
    return ca


def test_sasl_settings_from_the_environment_reach_the_librdkafka_config(sasl_env: Path) -> None:
    conf = kafka_client_config(PollerSettings(_env_file=None))  # type: ignore[call-arg]
    assert conf == {
        "bootstrap.servers": "broker-1:9096,broker-2:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "crimestream",
        "sasl.password": PASSWORD,
        "ssl.ca.location": str(sasl_env),
    }
    # librdkafka itself accepts the configuration (no connection is made until used).
    from confluent_kafka import Producer

    Producer(conf).flush(0)


def test_plaintext_by_default_adds_no_security_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SASL_ENV:
        monkeypatch.delenv(name, raising=False)
    settings = PollerSettings(_env_file=None)  # type: ignore[call-arg]
    assert kafka_client_config(settings) == {"bootstrap.servers": "127.0.0.1:9092", "security.protocol": "PLAINTEXT"}
    assert faust_broker_credentials(settings) is None


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_password_never_appears_in_repr_dump_or_logs(
    sasl_env: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    settings = PollerSettings(_env_file=None)  # type: ignore[call-arg]
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert PASSWORD not in settings.model_dump_json()
    assert PASSWORD not in repr(faust_broker_credentials(settings))
    configure_logging("DEBUG")
    logging.getLogger("crimestream.test").info("settings: %s / %r", settings, settings.kafka_sasl_password)
    logging.getLogger("crimestream.test").info("credentials: %r", faust_broker_credentials(settings))
    configure_logging("DEBUG", json_logs=True)
    logging.getLogger("crimestream.test").info("settings: %s", settings)
    err = capsys.readouterr().err
    assert "kafka_sasl_username='crimestream'" in err and "**********" in err  # logged, masked
    assert PASSWORD not in err


def test_faust_gets_the_same_sasl_over_tls_credentials(sasl_env: Path) -> None:
    credentials = faust_broker_credentials(PollerSettings(_env_file=None))  # type: ignore[call-arg]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.username == "crimestream"
    assert credentials.password == PASSWORD
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert isinstance(credentials.ssl_context, ssl.SSLContext)
    assert credentials.ssl_context.verify_mode == ssl.CERT_REQUIRED and credentials.ssl_context.check_hostname
    # What Faust hands aiokafka.
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("crimestream", PASSWORD)


def test_faust_sasl_plaintext_defaults_to_plain_without_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = PollerSettings(  # type: ignore[call-arg]
        _env_file=None,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    credentials = faust_broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.mechanism.value == "PLAIN" and credentials.protocol.value == "SASL_PLAINTEXT"
    assert credentials.ssl_context is None


def test_faust_ssl_only_verifies_against_the_ca_bundle(tmp_path: Path) -> None:
    settings = PollerSettings(  # type: ignore[call-arg]
        _env_file=None, kafka_security_protocol="SSL", kafka_ssl_ca_location=str(_ca_bundle(tmp_path))
    )
    credentials = faust_broker_credentials(settings)
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.protocol.value == "SSL" and credentials.context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "SASL_SSL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "GSSAPI", "kafka_sasl_username": "u"},
            "KAFKA_SASL_MECHANISM='GSSAPI' is not supported",
        ),
        ({"kafka_security_protocol": "TLS"}, "KAFKA_SECURITY_PROTOCOL='TLS' is not supported"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_ca_location": "/nonexistent/ca.pem"},
            "KAFKA_SSL_CA_LOCATION='/nonexistent/ca.pem' is not a readable CA bundle",
        ),
    ],
    ids=["sasl without credentials", "unsupported mechanism", "unknown protocol", "missing CA file"],
)
def test_faust_credentials_refuse_incomplete_settings_with_one_line(overrides: dict[str, str], message: str) -> None:
    settings = PollerSettings(_env_file=None, **overrides)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        faust_broker_credentials(settings)
    assert "\n" not in str(info.value)
