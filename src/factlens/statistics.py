"""Bootstrap 95% intervals for the report's metrics (scipy.stats.bootstrap, percentile
method): resampling the units a metric averages over (pairs, athletes, tokens)."""

from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap

CONFIDENCE = 0.95


def bootstrap_interval(samples, statistic, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of `statistic(*samples, axis)`, resampling the units (paired: entry
    i of every array belongs to unit i)."""
    samples = tuple(np.asarray(sample, float) for sample in samples)
    if len(samples[0]) < 2:
        return (np.nan, np.nan)
    result = bootstrap(samples, statistic, paired=True, vectorized=True, n_resamples=resamples,
                       method="percentile", confidence_level=CONFIDENCE,
                       random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def bootstrap_ratio(numerator, denominator, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of sum(numerator) / sum(denominator) over units."""
    return bootstrap_interval((numerator, denominator), lambda a, b, axis=-1: a.sum(axis) / b.sum(axis),
                              resamples, seed)


def bootstrap_mean(values, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the mean of per-unit values (e.g. 0/1 correctness per pair)."""
    values = np.asarray(values, float)
    return bootstrap_ratio(values, np.ones_like(values), resamples, seed)
