"""Find a Java runtime new enough for each JVM we start.

Kafka 3.9 runs on Java 11+; Apicurio Registry 3.3 needs Java 21+.  Candidates,
in order: an explicit ``*_JAVA_HOME`` override, ``JAVA_HOME``, ``java`` on the
PATH, then every JDK under ``/usr/lib/jvm`` (where Debian and Temurin put theirs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from crimestream.errors import BrokerError

__all__ = ["find_java", "java_major"]

_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@cache
def java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _candidates(override_env: str) -> list[str]:
    found: list[str] = []
    for env in (override_env, "JAVA_HOME"):
        home = os.environ.get(env)
        if home:
            found.append(str(Path(home) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    jvm = Path("/usr/lib/jvm")
    if jvm.is_dir():
        found.extend(str(p) for p in sorted(jvm.glob("*/bin/java"), reverse=True))
    return found


def find_java(minimum: int, override_env: str, purpose: str) -> str:
    """The first Java executable of at least ``minimum`` major version."""
    seen: list[str] = []
    for java in _candidates(override_env):
        major = java_major(java)
        if major is not None and major >= minimum:
            return java
        seen.append(f"{java} ({major or 'unusable'})")
    raise BrokerError(
        f"{purpose} needs Java {minimum}+; found only: {', '.join(seen) or 'no java'}. "
        f"Install a JDK {minimum}+ or set {override_env} to one"
    )
