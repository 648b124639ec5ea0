"""The Gated SAE paper's headline comparison (docs/references.md §2-3): at matched loss
recovered, the L0 an architecture needs relative to the ReLU baseline's, with bootstrap
95% intervals over held-out sequences.

Levels are matched per architecture: evenly spaced inside the range of loss recovered
that both its sweep and the baseline's reach. For the intervals, the held-out sequences
are resampled once per replicate and every SAE of the site is re-evaluated on the same
resample (L0 and loss recovered from per-sequence sums), so the replicate's ratio comes
from the same interpolation as the point estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factlens.sae.metrics import l0_at_loss_recovered, log_l0_at
from factlens.statistics import percentile_interval, resampled_sums

BASELINE = "standard"
MATCHED_LEVELS = 5
COLUMNS = ["hook_name", "architecture", "loss_recovered", "l0_needed", "l0_baseline",
           "l0_ratio_to_baseline", "ratio_low", "ratio_high", "resamples_in_range"]


def recovered_range(sweep: pd.DataFrame) -> tuple[float, float]:
    """The loss recovered a sweep reaches, along its monotone envelope in L0."""
    envelope = np.maximum.accumulate(sweep.sort_values("l0")["loss_recovered"].to_numpy())
    return float(envelope[0]), float(envelope[-1])


def matched_levels(baseline: pd.DataFrame, sweep: pd.DataFrame, levels: int = MATCHED_LEVELS) -> np.ndarray:
    """`levels` loss-recovered levels evenly spaced strictly inside the overlap of both
    sweeps' ranges (the ends are left out, so that resampled sweeps still reach them);
    none when the ranges do not overlap."""
    (low_a, high_a), (low_b, high_b) = recovered_range(baseline), recovered_range(sweep)
    low, high = max(low_a, low_b), min(high_a, high_b)
    if low >= high:
        return np.array([])
    return np.linspace(low, high, levels + 2)[1:-1]


def resampled_sweep(sequences: pd.DataFrame, sweep: pd.DataFrame, resamples: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """L0 and loss recovered of each SAE of `sweep` (rows) on bootstrap resamples of the
    held-out sequences (columns): arrays [SAEs, resamples]. The seed fixes the resamples,
    so every sweep at a site is evaluated on the same ones (paired)."""
    wide = sequences.assign(run=list(zip(sequences["architecture"], sequences["sparsity_coefficient"])))
    wide = wide.pivot(index="sequence", columns="run", values=["ce_sum", "active", "targets", "positions"])
    first = wide["targets"].columns[0]
    runs = list(zip(sweep["architecture"], sweep["sparsity_coefficient"]))
    columns = {"positions": wide["positions", first], "clean": wide["ce_sum"].filter(like="clean").iloc[:, 0],
               "zero": wide["ce_sum"].filter(like="zero_ablation").iloc[:, 0]}
    for index, run in enumerate(runs):
        columns[f"ce {index}"], columns[f"active {index}"] = wide["ce_sum", run], wide["active", run]
    sums = resampled_sums({name: column.to_numpy() for name, column in columns.items()}, resamples, seed)
    recovered = np.stack([(sums["zero"] - sums[f"ce {i}"]) / (sums["zero"] - sums["clean"])
                          for i in range(len(runs))])
    l0 = np.stack([sums[f"active {i}"] / sums["positions"] for i in range(len(runs))])
    return l0, recovered


def equal_loss_comparison(table: pd.DataFrame, sequences: dict[str, pd.DataFrame] | None = None,
                          resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """For every site and architecture, the L0 needed at matched loss-recovered levels, the
    baseline's, their ratio (< 1: sparser at equal fidelity; the paper reports about 0.5)
    and, given the per-sequence table of each site (`sequences[hook]`), the ratio's
    bootstrap 95% interval and the share of resamples in which both sweeps reach the level."""
    rows = []
    for hook, site in table.groupby("hook_name"):
        baseline = site[site["architecture"] == BASELINE]
        if len(baseline) < 2:
            continue
        per_sequence = None if sequences is None else sequences[hook]
        if per_sequence is not None:
            baseline_l0, baseline_recovered = resampled_sweep(per_sequence, baseline, resamples, seed)
        for arch, sweep in site[site["architecture"] != BASELINE].groupby("architecture"):
            if per_sequence is not None:
                l0, recovered = resampled_sweep(per_sequence, sweep, resamples, seed)
            for target in matched_levels(baseline, sweep):
                needed, reference = l0_at_loss_recovered(sweep, target), l0_at_loss_recovered(baseline, target)
                row = {"hook_name": hook, "architecture": arch, "loss_recovered": round(float(target), 4),
                       "l0_needed": needed, "l0_baseline": reference, "l0_ratio_to_baseline": needed / reference}
                if per_sequence is not None:
                    replicates = (log_l0_at(l0, recovered, target)
                                  / log_l0_at(baseline_l0, baseline_recovered, target))
                    row["ratio_low"], row["ratio_high"] = percentile_interval(replicates)
                    row["resamples_in_range"] = float(np.isfinite(replicates).mean())
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
