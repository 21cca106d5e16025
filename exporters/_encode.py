"""The JSON value helpers, shared with the facades: they live in ``monitoring_layer._encode``."""

from monitoring_layer._encode import (
    NS_PER_DAY,
    UNKNOWN_SERVICE,
    attributes,
    cached_resource_service,
    duration_ms,
    iso,
    iso_second,
    json_value,
    now_ns,
    resource_service,
    unpack_json,
)

__all__ = [
    "NS_PER_DAY", "UNKNOWN_SERVICE", "attributes", "cached_resource_service", "duration_ms", "iso", "iso_second", "json_value", "now_ns", "resource_service",
    "unpack_json",
]
