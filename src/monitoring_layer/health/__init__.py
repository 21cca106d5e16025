"""Health checks (SPEC.md section 4): concurrent checks with hard timeouts, dependencies,
Kubernetes probes in ``application/health+json``, health as metrics and files.

See ``docs/health.md``.
"""

from ._checks import create_database_check, create_kafka_check, create_storage_check
from ._files import HISTORY_FILE, STATUS_FILE
from ._manager import PROBES, HealthCheckManager, UnknownCheckError
from ._probes import CONTENT_TYPE, mount_health
from ._status import HealthStatus

__all__ = [
    "CONTENT_TYPE",
    "HISTORY_FILE",
    "PROBES",
    "STATUS_FILE",
    "HealthCheckManager",
    "HealthStatus",
    "UnknownCheckError",
    "create_database_check",
    "create_kafka_check",
    "create_storage_check",
    "mount_health",
]
