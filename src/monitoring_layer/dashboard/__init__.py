"""The observability dashboard (SPEC section 6): panels, a web UI for the one server, a report."""

from ._web import mount_dashboard
from .observability_dashboard import ObservabilityDashboard

__all__ = ["ObservabilityDashboard", "mount_dashboard"]
