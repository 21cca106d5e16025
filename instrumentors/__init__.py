"""OTel instrumentors for the data platform (Kafka, Spark, lakehouse).

Each is a ``BaseInstrumentor`` registered under the ``opentelemetry_instrumentor``
entry point group; none exists yet (see the project's open issues).
"""

__all__: list[str] = []
