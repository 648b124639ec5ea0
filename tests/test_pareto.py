"""The Pareto comparisons (L0 at matched loss recovered; delta LM loss and FVU at matched
L0) and their bootstrap intervals over held-out sequences, on synthetic sweeps whose
ratios are known by construction."""

import numpy as np
import pandas as pd
import pytest

from factlens.sae.pareto import (equal_l0_comparison, equal_loss_comparison, matched_l0_levels, matched_levels,
                                resampled_sweep)
from factlens.statistics import percentile_interval, resampled_sums

HOOK = "blocks.1.hook_resid_post"
SEQUENCES = 60


def synthetic_site(sweeps: dict[str, list[tuple]], noise: float = 0.0, seed: int = 0):
    """Per-sequence sums and the metrics table for SAEs given as {arch: [(coefficient,
    L0, loss recovered[, FVU])]} (FVU 0.1 when not given): every sequence has 10 positions
    and 10 targets, clean CE 1 and zero-ablated CE 5 nats per token (so delta LM loss is
    4 (1 - loss recovered)), a centred sum of squares of 100, and an SAE's CE, active
    latents and squared error set so that the whole held-out set gives exactly its
    metrics (`noise` varies them between sequences around those totals)."""
    rng = np.random.default_rng(seed)
    base = {"sequence": np.arange(SEQUENCES), "targets": 10.0, "positions": 10.0,
            "centred_sum_of_squares": 100.0}
    frames = [pd.DataFrame({**base, "architecture": name, "sparsity_coefficient": np.nan, "ce_sum": ce,
                            "active": 0.0, "squared_error": 0.0})
              for name, ce in (("clean", 10.0), ("zero_ablation", 50.0))]
    rows = []
    for arch, points in sweeps.items():
        for coefficient, l0, recovered, *fvu in points:
            fvu = fvu[0] if fvu else 0.1
            wobble = rng.normal(0, noise, SEQUENCES)
            wobble -= wobble.mean()  # totals stay exact
            ce = 50.0 - recovered * 40.0 + 40.0 * wobble
            active = 10.0 * l0 * (1 + wobble)
            frames.append(pd.DataFrame({**base, "architecture": arch, "sparsity_coefficient": coefficient,
                                        "ce_sum": ce, "active": active,
                                        "squared_error": 100.0 * fvu * (1 + wobble)}))
            rows.append({"hook_name": HOOK, "architecture": arch, "sparsity_coefficient": coefficient,
                         "l0": l0, "loss_recovered": recovered, "delta_lm_loss": 4.0 * (1 - recovered),
                         "fvu": fvu})
    return pd.DataFrame(rows), pd.concat(frames, ignore_index=True)


BASELINE = [(0.1, 40.0, 0.95), (0.2, 20.0, 0.85), (0.4, 10.0, 0.6)]


def test_resampled_sweep_reproduces_the_metrics_and_pairs_the_resamples():
    table, sequences = synthetic_site({"standard": BASELINE}, noise=0.05)
    resampled = resampled_sweep(sequences, table, resamples=200, seed=3)
    assert {name: array.shape for name, array in resampled.items()} == {
        "l0": (3, 200), "loss_recovered": (3, 200), "delta_lm_loss": (3, 200), "fvu": (3, 200)}
    # the bootstrap distribution centres on the full-data values
    assert resampled["l0"].mean(1) == pytest.approx(table["l0"].to_numpy(), rel=0.02)
    for metric in ("loss_recovered", "delta_lm_loss", "fvu"):
        assert resampled[metric].mean(1) == pytest.approx(table[metric].to_numpy(), abs=0.02), metric
    again = resampled_sweep(sequences, table.iloc[::-1], resamples=200, seed=3)
    assert np.array_equal(again["l0"][::-1], resampled["l0"])  # same seed: the same resamples for every sweep


def test_a_sweep_at_half_the_baseline_l0_gives_ratio_one_half_with_a_degenerate_interval():
    # every sequence of the Gated SAE has half the baseline's active latents and the same
    # loss: each resample gives exactly 0.5, so the interval is [0.5, 0.5]
    gated = [(c, l0 / 2, r) for c, l0, r in BASELINE]
    table, sequences = synthetic_site({"standard": BASELINE, "gated": gated})
    comparison = equal_loss_comparison(table, {HOOK: sequences}, resamples=200)
    assert len(comparison) == 5 and set(comparison["architecture"]) == {"gated"}
    assert comparison["l0_ratio_to_baseline"].to_numpy() == pytest.approx(0.5)
    assert comparison["ratio_low"].to_numpy() == pytest.approx(0.5)
    assert comparison["ratio_high"].to_numpy() == pytest.approx(0.5)
    assert (comparison["resamples_in_range"] == 1).all()


def test_noisy_sequences_give_intervals_around_the_point_estimate():
    gated = [(0.2, 12.0, 0.9), (0.4, 6.0, 0.8), (0.8, 3.0, 0.65)]
    table, sequences = synthetic_site({"standard": BASELINE, "gated": gated}, noise=0.1)
    comparison = equal_loss_comparison(table, {HOOK: sequences}, resamples=500)
    assert (comparison["ratio_low"] < comparison["l0_ratio_to_baseline"]).all()
    assert (comparison["l0_ratio_to_baseline"] < comparison["ratio_high"]).all()
    # the point estimate is the interpolation on the full data, as without sequences
    without = equal_loss_comparison(table)
    assert without["l0_ratio_to_baseline"].to_numpy() == pytest.approx(comparison["l0_ratio_to_baseline"].to_numpy())
    assert without["ratio_low"].isna().all()


def test_levels_lie_strictly_inside_the_overlap_of_both_sweeps():
    baseline = pd.DataFrame({"l0": [10.0, 20.0, 40.0], "loss_recovered": [0.6, 0.85, 0.95]})
    other = pd.DataFrame({"l0": [3.0, 6.0, 12.0], "loss_recovered": [0.7, 0.8, 0.99]})
    levels = matched_levels(baseline, other)
    assert levels == pytest.approx([0.7 + 0.25 * i / 6 for i in range(1, 6)])
    disjoint = pd.DataFrame({"l0": [1.0, 2.0], "loss_recovered": [0.97, 0.99]})
    assert len(matched_levels(baseline, disjoint)) == 0
    table = pd.concat([baseline.assign(architecture="standard"), disjoint.assign(architecture="topk")])
    assert equal_loss_comparison(table.assign(hook_name=HOOK, sparsity_coefficient=1.0)).empty


def test_resampled_sums_are_paired_bootstrap_sums():
    values = np.arange(10.0)
    sums = resampled_sums({"ones": np.ones(10), "values": values, "twice": 2 * values}, resamples=300, seed=1)
    assert (sums["ones"] == 10).all()  # each resample has as many units as the data
    assert np.array_equal(sums["twice"], 2 * sums["values"])  # the same units for every column
    assert sums["values"].mean() == pytest.approx(values.sum(), rel=0.05)
    low, high = percentile_interval(np.r_[np.arange(1, 101.0), np.nan])
    assert (low, high) == pytest.approx((3.475, 97.525))  # NaN replicates are left out


def test_a_sweep_with_half_the_loss_and_four_fifths_the_fvu_at_every_l0_gives_those_ratios():
    gated = [(c, l0, r, 0.2) for c, l0, r in BASELINE]
    jumprelu = [(c / 10, l0, 1 - (1 - r) / 2, 0.16) for c, l0, r in BASELINE]
    table, sequences = synthetic_site({"gated": gated, "jumprelu": jumprelu})
    comparison = equal_l0_comparison(table, {HOOK: sequences}, resamples=200)
    assert len(comparison) == 5
    assert set(zip(comparison["architecture"], comparison["reference"])) == {("jumprelu", "gated")}
    for column in ("delta_lm_loss_ratio", "delta_lm_loss_ratio_low", "delta_lm_loss_ratio_high"):
        assert comparison[column].to_numpy() == pytest.approx(0.5), column
    assert comparison["fvu_ratio"].to_numpy() == pytest.approx(0.8)
    assert comparison["fvu"].to_numpy() == pytest.approx(0.16)
    assert comparison["l0"].to_numpy() == pytest.approx(matched_l0_levels(table[table.architecture == "gated"],
                                                                          table[table.architecture == "jumprelu"]))


def test_equal_l0_intervals_surround_the_point_estimate_and_levels_lie_in_both_ranges():
    gated = [(0.2, 30.0, 0.9, 0.12), (0.4, 12.0, 0.8, 0.2), (0.8, 5.0, 0.6, 0.3)]
    topk = [(4, 4.0, 0.7), (8, 8.0, 0.85), (16, 16.0, 0.95)]
    table, sequences = synthetic_site({"gated": gated, "topk": topk}, noise=0.1)
    comparison = equal_l0_comparison(table, {HOOK: sequences}, resamples=500)
    assert (comparison["l0"] > 5.0).all() and (comparison["l0"] < 16.0).all()
    assert (comparison["delta_lm_loss_ratio_low"] < comparison["delta_lm_loss_ratio"]).all()
    assert (comparison["delta_lm_loss_ratio"] < comparison["delta_lm_loss_ratio_high"]).all()
    without = equal_l0_comparison(table)
    assert without["fvu_ratio"].to_numpy() == pytest.approx(comparison["fvu_ratio"].to_numpy())
    assert without["fvu_ratio_low"].isna().all()
    assert matched_l0_levels(table[table.architecture == "gated"], table.assign(l0=table.l0 + 100)).size == 0
