"""A real Apache Kafka broker and Apicurio schema registry, run by the project itself.

No Docker engine is needed: the broker jars (Kafka 3.9.x) and the registry
(Apicurio Registry 3.x, Confluent-compatible API) come from Maven Central once,
into a cache folder, and run as child JVMs on 127.0.0.1.
"""

from localkafka.artifacts import KAFKA_VERSION, REGISTRY_VERSION, ensure_kafka, ensure_registry
from localkafka.cluster import LocalKafka, LocalRegistry, LocalStack, free_port

__all__ = [
    "KAFKA_VERSION",
    "REGISTRY_VERSION",
    "LocalKafka",
    "LocalRegistry",
    "LocalStack",
    "ensure_kafka",
    "ensure_registry",
    "free_port",
]
