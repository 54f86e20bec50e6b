"""A stop that Faust cannot finish (e.g. the broker is gone) is cut short, never hangs forever."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging, threading, time
    from types import SimpleNamespace
    from stream_processors.app import _bound_the_stop

    logging.basicConfig(level=logging.INFO)
    worker, app = SimpleNamespace(should_stop=False), SimpleNamespace(should_stop=False)
    threading.Thread(target=_bound_the_stop, args=(worker, app, 0.5), daemon=True).start()
    time.sleep(1.0)
    print("running", flush=True)  # nothing happens before a stop begins
    app.should_stop = True  # a SIGTERM began the stop, and the stop now hangs:
    time.sleep(60)
    print("still here", flush=True)
    """
)


def test_a_hung_stop_ends_after_the_grace_period_with_a_message() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=50, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["running"]
    assert "still stopping after" in proc.stderr and "exiting now" in proc.stderr
