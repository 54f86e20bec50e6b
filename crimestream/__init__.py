"""crimestream: a live, queryable copy of a city's open data.

SODA portal -> producers (poller) -> Kafka (Avro) -> stream_processors (Faust)
-> sinks (parquet lake) -> dashboard (Panel + DuckDB).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
