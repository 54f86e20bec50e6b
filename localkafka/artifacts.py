"""Fetch the broker and registry from Maven Central once, into a cache folder.

The cache lives in ``$CRIMESTREAM_CACHE_DIR`` (default: ``.cache/`` at the repo
root, ignored by git).  A fetch is guarded by a file lock, so parallel test
sessions share one download; a finished fetch leaves a ``.complete`` marker,
so a second start reuses the cache without touching the network.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crimestream.errors import BrokerError

__all__ = ["KAFKA_VERSION", "REGISTRY_VERSION", "cache_dir", "ensure_kafka", "ensure_registry"]

log = logging.getLogger(__name__)

KAFKA_VERSION = "3.9.1"
REGISTRY_VERSION = "3.3.3"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
_POM = Path(__file__).resolve().parent / "pom.xml"


def cache_dir() -> Path:
    env = os.environ.get("CRIMESTREAM_CACHE_DIR")
    root = Path(env) if env else Path(__file__).resolve().parent.parent / ".cache"
    return root / "localkafka"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mvn(args: list[str], what: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            f"Maven ('mvn') is needed once to fetch {what} from Maven Central; "
            "install it (apt-get install maven) and retry"
        )
    cmd = [mvn, "-B", "-q", *args]
    log.info("fetching %s from Maven Central (once; cached in %s)", what, cache_dir())
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise BrokerError(f"could not fetch {what} with Maven (exit {proc.returncode}): {tail}")


def ensure_kafka() -> Path:
    """Return the folder holding every jar of the Kafka broker's classpath."""
    lib = cache_dir() / f"kafka-{KAFKA_VERSION}" / "lib"
    marker = lib.parent / ".complete"
    if marker.exists():
        return lib
    with _locked(cache_dir() / ".kafka.lock"):
        if marker.exists():
            return lib
        if lib.exists():
            shutil.rmtree(lib)
        _mvn(
            [
                "-f",
                str(_POM),
                f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={lib}",
                "-DincludeScope=runtime",
            ],
            f"Apache Kafka {KAFKA_VERSION}",
        )
        if not any(lib.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Maven finished but no kafka_2.13 jar is in {lib}")
        marker.touch()
    return lib


def ensure_registry() -> Path:
    """Return the unpacked Apicurio Registry folder (holding quarkus-run.jar)."""
    home = cache_dir() / f"apicurio-registry-{REGISTRY_VERSION}"
    marker = home / ".complete"
    if marker.exists():
        return home
    with _locked(cache_dir() / ".registry.lock"):
        if marker.exists():
            return home
        download = cache_dir() / "downloads"
        _mvn(
            [
                f"{_DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact=io.apicurio:apicurio-registry-app:{REGISTRY_VERSION}:tar.gz:all",
                f"-DoutputDirectory={download}",
            ],
            f"Apicurio Registry {REGISTRY_VERSION}",
        )
        archive = download / f"apicurio-registry-app-{REGISTRY_VERSION}-all.tar.gz"
        if home.exists():
            shutil.rmtree(home)
        with tarfile.open(archive) as tar:
            tar.extractall(home, filter="data")
        archive.unlink()
        if not (home / "quarkus-run.jar").exists():
            raise BrokerError(f"the Apicurio archive did not contain quarkus-run.jar ({home})")
        marker.touch()
    return home
