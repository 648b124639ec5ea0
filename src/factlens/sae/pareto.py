"""The papers' comparisons of SAE sweeps (docs/references.md §2-3), with bootstrap 95%
intervals over held-out sequences:

- the Gated SAE paper's headline: at matched loss recovered, the L0 an architecture needs
  relative to the ReLU baseline's (`equal_loss_comparison`);
- the JumpReLU paper's axes: at matched L0, the delta LM loss and FVU of one architecture
  relative to another's (`equal_l0_comparison`).

Levels are matched per architecture: evenly spaced inside the range of loss recovered
that both its sweep and the baseline's reach. For the intervals, the held-out sequences
are resampled once per replicate and every SAE of the site is re-evaluated on the same
resample (L0 and loss recovered from per-sequence sums), so the replicate's ratio comes
from the same interpolation as the point estimate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factlens.sae.metrics import l0_at_loss_recovered, log_l0_at, value_at_l0
from factlens.statistics import percentile_interval, resampled_sums

BASELINE = "standard"
MATCHED_LEVELS = 5
COLUMNS = ["hook_name", "architecture", "loss_recovered", "l0_needed", "l0_baseline",
           "l0_ratio_to_baseline", "ratio_low", "ratio_high", "resamples_in_range"]
# (architecture, reference) pairs compared at equal L0: each against the baseline, and the
# JumpReLU paper's comparisons of JumpReLU with Gated and TopK
EQUAL_L0_PAIRS = (("gated", "standard"), ("jumprelu", "standard"), ("topk", "standard"),
                  ("jumprelu", "gated"), ("jumprelu", "topk"), ("topk", "gated"))
EQUAL_L0_METRICS = ("delta_lm_loss", "fvu")
EQUAL_L0_COLUMNS = ["hook_name", "architecture", "reference", "l0",
                    *[f"{metric}{suffix}" for metric in EQUAL_L0_METRICS
                      for suffix in ("", "_reference", "_ratio", "_ratio_low", "_ratio_high")],
                    "resamples_in_range"]


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
                    seed: int) -> dict[str, np.ndarray]:
    """L0, loss recovered, delta LM loss and FVU of each SAE of `sweep` (rows) on bootstrap
    resamples of the held-out sequences (columns): arrays [SAEs, resamples]. The seed
    fixes the resamples, so every sweep at a site is evaluated on the same ones (paired)."""
    wide = sequences.assign(run=list(zip(sequences["architecture"], sequences["sparsity_coefficient"])))
    wide = wide.pivot(index="sequence", columns="run",
                      values=["ce_sum", "active", "targets", "positions", "squared_error",
                              "centred_sum_of_squares"])
    first = wide["targets"].columns[0]
    runs = list(zip(sweep["architecture"], sweep["sparsity_coefficient"]))
    columns = {"positions": wide["positions", first], "targets": wide["targets", first],
               "centred": wide["centred_sum_of_squares", first],
               "clean": wide["ce_sum"].filter(like="clean").iloc[:, 0],
               "zero": wide["ce_sum"].filter(like="zero_ablation").iloc[:, 0]}
    for index, run in enumerate(runs):
        columns[f"ce {index}"], columns[f"active {index}"] = wide["ce_sum", run], wide["active", run]
        columns[f"error {index}"] = wide["squared_error", run]
    sums = resampled_sums({name: column.to_numpy() for name, column in columns.items()}, resamples, seed)

    def per_sae(statistic) -> np.ndarray:
        return np.stack([statistic(str(index)) for index in range(len(runs))])

    return {"l0": per_sae(lambda i: sums[f"active {i}"] / sums["positions"]),
            "loss_recovered": per_sae(lambda i: (sums["zero"] - sums[f"ce {i}"]) / (sums["zero"] - sums["clean"])),
            "delta_lm_loss": per_sae(lambda i: (sums[f"ce {i}"] - sums["clean"]) / sums["targets"]),
            "fvu": per_sae(lambda i: sums[f"error {i}"] / sums["centred"])}


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
            resampled_baseline = resampled_sweep(per_sequence, baseline, resamples, seed)
        for arch, sweep in site[site["architecture"] != BASELINE].groupby("architecture"):
            if per_sequence is not None:
                resampled = resampled_sweep(per_sequence, sweep, resamples, seed)
            for target in matched_levels(baseline, sweep):
                needed, reference = l0_at_loss_recovered(sweep, target), l0_at_loss_recovered(baseline, target)
                row = {"hook_name": hook, "architecture": arch, "loss_recovered": round(float(target), 4),
                       "l0_needed": needed, "l0_baseline": reference, "l0_ratio_to_baseline": needed / reference}
                if per_sequence is not None:
                    replicates = (log_l0_at(resampled["l0"], resampled["loss_recovered"], target)
                                  / log_l0_at(resampled_baseline["l0"], resampled_baseline["loss_recovered"],
                                              target))
                    row["ratio_low"], row["ratio_high"] = percentile_interval(replicates)
                    row["resamples_in_range"] = float(np.isfinite(replicates).mean())
                rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def matched_l0_levels(reference: pd.DataFrame, sweep: pd.DataFrame, levels: int = MATCHED_LEVELS) -> np.ndarray:
    """`levels` L0 values evenly spaced in log L0 strictly inside the L0 range both sweeps
    span; none when the ranges do not overlap."""
    low = max(reference["l0"].min(), sweep["l0"].min())
    high = min(reference["l0"].max(), sweep["l0"].max())
    if not 0 < low < high:
        return np.array([])
    return np.exp(np.linspace(np.log(low), np.log(high), levels + 2)[1:-1])


def equal_l0_comparison(table: pd.DataFrame, sequences: dict[str, pd.DataFrame] | None = None,
                        resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """For every site and pair of `EQUAL_L0_PAIRS` both swept there, at matched L0 levels:
    each sweep's delta LM loss and FVU (interpolated in log L0) and the architecture's
    ratio to the reference's (< 1: more faithful at equal sparsity), with the ratios'
    bootstrap 95% intervals over held-out sequences given each site's per-sequence table."""
    rows = []
    for hook, site in table.groupby("hook_name"):
        sweeps = {arch: sweep for arch, sweep in site.groupby("architecture") if len(sweep) >= 2}
        per_sequence = None if sequences is None else sequences[hook]
        resampled = ({arch: resampled_sweep(per_sequence, sweep, resamples, seed) for arch, sweep in sweeps.items()}
                     if per_sequence is not None else {})
        for arch, reference in EQUAL_L0_PAIRS:
            if arch not in sweeps or reference not in sweeps:
                continue
            for level in matched_l0_levels(sweeps[reference], sweeps[arch]):
                row = {"hook_name": hook, "architecture": arch, "reference": reference, "l0": float(level)}
                for metric in EQUAL_L0_METRICS:
                    ours = float(value_at_l0(sweeps[arch]["l0"], sweeps[arch][metric], level))
                    theirs = float(value_at_l0(sweeps[reference]["l0"], sweeps[reference][metric], level))
                    row.update({metric: ours, f"{metric}_reference": theirs, f"{metric}_ratio": ours / theirs})
                    if resampled:
                        ratios = (value_at_l0(resampled[arch]["l0"], resampled[arch][metric], level)
                                  / value_at_l0(resampled[reference]["l0"], resampled[reference][metric], level))
                        row[f"{metric}_ratio_low"], row[f"{metric}_ratio_high"] = percentile_interval(ratios)
                        row["resamples_in_range"] = float(np.isfinite(ratios).mean())
                rows.append(row)
    return pd.DataFrame(rows, columns=EQUAL_L0_COLUMNS)
