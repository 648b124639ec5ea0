"""Gather the SAE sweep: one table, the Pareto figures, the L0 each architecture needs to
reach the same loss recovered as the baseline (the Gated SAE paper's headline comparison)
and the delta LM loss and FVU of each pair of architectures at equal L0 (the JumpReLU
paper's), with bootstrap intervals over held-out sequences (factlens.sae.pareto)."""

from __future__ import annotations

import logging

import matplotlib
import matplotlib.ticker as ticker
import numpy as np
import pandas as pd
import seaborn as sns

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factlens.io import save_figure, write_table, write_text  # noqa: E402
from factlens.sae.pareto import equal_l0_comparison, equal_loss_comparison  # noqa: E402

log = logging.getLogger("factlens.sae_summary")

LABELS = {"standard": "ReLU (baseline)", "gated": "Gated", "jumprelu": "JumpReLU", "topk": "TopK"}
COLUMNS = ["hook_name", "architecture", "sparsity_coefficient", "d_sae", "l0", "fvu",
           "loss_recovered", "delta_lm_loss", "shrinkage_gamma", "alive_fraction", "dead_fraction",
           "dense_latents", "ce_clean", "ce_zero_ablation", "ce_sae", "training_tokens"]


def add_arguments(parser) -> None:
    parser.add_argument("--metrics", nargs="+", required=True,
                        help="The evaluation tables, one per hook (one row per SAE).")
    parser.add_argument("--sequences", nargs="+", required=True,
                        help="The per-sequence tables of the same hooks, in the same order.")
    parser.add_argument("--table", required=True, help="The output CSV (a .md is written beside it).")
    parser.add_argument("--comparison", required=True,
                        help="The output CSV: L0 at matched loss recovered, with 95%% intervals.")
    parser.add_argument("--equal-l0", required=True,
                        help="The output CSV: delta LM loss and FVU of pairs of architectures at matched "
                             "L0, with 95%% intervals.")
    parser.add_argument("--resamples", type=int, default=1000,
                        help="Bootstrap resamples of the held-out sequences.")
    parser.add_argument("--pareto-figure", required=True, help="The output PNG (a PDF is written beside it).")
    parser.add_argument("--shrinkage-figure", required=True,
                        help="The output PNG (a PDF is written beside it).")


def sweep_table(tables: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat(tables, ignore_index=True)
    frame["dead_fraction"] = 1 - frame["alive_fraction"]  # latents that never fire on held-out tokens
    frame = frame[COLUMNS]
    return frame.sort_values(["hook_name", "architecture", "sparsity_coefficient"]).reset_index(drop=True)


def log_l0_axis(axis, **labels) -> None:
    """Log-scaled L0 axis with plain numbers as tick labels."""
    axis.set(xscale="log", **labels)
    axis.xaxis.set_major_formatter(ticker.ScalarFormatter())
    axis.xaxis.set_minor_formatter(ticker.NullFormatter())


def pareto_figure(table: pd.DataFrame):
    """L0 against loss recovered, Delta CE (the spliced model's extra next-token loss)
    and FVU, one row per hook point with a sweep (a site with a single SAE, trained
    for another analysis, has no frontier to draw)."""
    sizes = table.groupby("hook_name").size()
    hooks = sorted(sizes.index[sizes > 1])
    sns.set_theme(style="whitegrid", context="paper")
    figure, axes = plt.subplots(len(hooks), 3, figsize=(13, 3.2 * len(hooks)), squeeze=False)
    plotted = table.assign(architecture=table["architecture"].map(LABELS))
    for row, hook in enumerate(hooks):
        site = plotted[plotted["hook_name"] == hook]
        for column, (metric, label) in enumerate((("loss_recovered", "loss recovered"),
                                                  ("delta_lm_loss", "Delta CE (nats)"), ("fvu", "FVU"))):
            axis = axes[row, column]
            sns.lineplot(data=site, x="l0", y=metric, hue="architecture", marker="o",
                         sort=True, estimator=None, ax=axis, hue_order=list(LABELS.values()),
                         legend=column == 0)
            log_l0_axis(axis, xlabel="L0 (active latents per token)", ylabel=label, title=f"{hook}")
    figure.tight_layout()
    return figure


def shrinkage_figure(table: pd.DataFrame):
    """Shrinkage gamma against L0: 1 is unbiased, below 1 the L1 penalty shrinks."""
    sns.set_theme(style="whitegrid", context="paper")
    plotted = table.assign(architecture=table["architecture"].map(LABELS))
    grid = sns.relplot(data=plotted, x="l0", y="shrinkage_gamma", hue="architecture",
                       col="hook_name", kind="line", marker="o", height=3.2, aspect=1.3,
                       facet_kws={"sharex": False}, hue_order=list(LABELS.values()))
    for axis in grid.axes.flat:
        axis.axhline(1.0, color="grey", ls="--")
        log_l0_axis(axis, xlabel="L0", ylabel="shrinkage gamma")
    return grid.figure


def run(args) -> None:
    if len(args.metrics) != len(args.sequences):
        raise ValueError("--metrics and --sequences must name the same hooks")
    tables = [pd.read_csv(path) for path in args.metrics]
    table = sweep_table(tables)
    sequences = {hook_table["hook_name"].iloc[0]: pd.read_parquet(path)
                 for hook_table, path in zip(tables, args.sequences)}
    comparison = equal_loss_comparison(table, sequences, resamples=args.resamples)
    equal_l0 = equal_l0_comparison(table, sequences, resamples=args.resamples)
    write_table(table, args.table)
    write_text(table.to_markdown(index=False, floatfmt=".4g") + "\n",
               args.table.rsplit(".", 1)[0] + ".md")
    write_table(comparison, args.comparison)
    write_table(equal_l0, args.equal_l0)
    save_figure(pareto_figure(table), args.pareto_figure)
    save_figure(shrinkage_figure(table), args.shrinkage_figure)
    log.info("%d SAEs summarised\n%s", len(table), comparison.to_string(index=False))
