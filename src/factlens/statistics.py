"""Bootstrap 95% intervals for the report's metrics (scipy.stats.bootstrap, percentile
method): resampling the units a metric averages over (pairs, athletes, tokens)."""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.95


def bootstrap_interval(samples, statistic, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% interval of `statistic(*samples, axis)`, resampling the units (paired: entry
    i of every array belongs to unit i)."""
    samples = tuple(np.asarray(sample, float) for sample in samples)
    if len(samples[0]) < 2:
        return (np.nan, np.nan)
    # imported here: the workflow's parse (every snakemake call) imports the claims that
    # use this module, and scipy.stats alone takes seconds to import
    from scipy.stats import bootstrap

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


def resampled_sums(columns: dict[str, np.ndarray], resamples: int = 1000,
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Each per-unit column summed over `resamples` bootstrap resamples of the units, the
    same resamples for every column (paired): {name: array [resamples]}. For statistics
    built from several sums through a step scipy's bootstrap cannot vectorise (e.g. the
    interpolation along an SAE sweep)."""
    n = len(next(iter(columns.values())))
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=resamples)
    return {name: counts @ np.asarray(values, float) for name, values in columns.items()}


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The percentile 95% interval of bootstrap replicates, ignoring undefined (NaN) ones."""
    values = np.asarray(values, float)
    if not np.isfinite(values).any():
        return (np.nan, np.nan)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)
