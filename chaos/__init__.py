"""The chaos soak: the whole pipeline under random faults, then the lake checked row by row.

``python -m chaos --duration 600`` (``make chaos``) starts its own Kafka broker and
registry, the SODA emulator, the poller, the processor and the dashboard, changes the
source all along (new rows, corrections, some moving a row to another month,
deletions) and injects seeded random faults: services SIGKILLed and restarted, the
broker stopped or killed and restarted on the same port and data dir, the source
throttling, failing, truncating, resetting and drifting its schema.  Then the faults
stop, the pipeline catches up (with a final deletion reconciliation) and the lake is
compared with the emulator's ground truth.

Modules, one job each: ``faults`` (the seeded schedule), ``workload`` (changes at the
source), ``processes`` (services and broker as child processes), ``pipeline`` (wiring,
ports, environment), ``injector`` (applies faults), ``recovery`` (recovery times),
``settle`` (catching up), ``lake`` / ``source`` / ``dlq`` (reading the results),
``checker`` (the comparison, pure), ``report`` and ``runner``.
"""
