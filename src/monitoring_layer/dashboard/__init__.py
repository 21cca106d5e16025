"""The observability dashboard (SPEC section 6): panels, a web UI for the one server, a report."""

from .observability_dashboard import ObservabilityDashboard

__all__ = ["ObservabilityDashboard"]
