"""The statistics of the facade's queries: ``monitoring_layer._stats`` (shared with the readings' encoders)."""

from monitoring_layer._stats import QUANTILES, quantile, statistics

__all__ = ["QUANTILES", "quantile", "statistics"]
