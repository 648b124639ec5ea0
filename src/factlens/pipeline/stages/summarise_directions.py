"""Summarise the illusion checks over sites and positions: one row per check and
direction family, the illusory fraction per family, and the sweep heatmaps."""

from __future__ import annotations

import matplotlib
import pandas as pd
import seaborn as sns

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factlens.illusion.verdicts import family_rates, summarise_checks  # noqa: E402
from factlens.io import save_figure, write_table  # noqa: E402


def add_arguments(parser) -> None:
    parser.add_argument("--sites", required=True, help="The chosen checks (directions/sites.csv).")
    parser.add_argument("--tables", nargs="+", required=True, help="Every check's illusion.csv.")
    parser.add_argument("--table", required=True, help="The output CSV, one row per check and family.")
    parser.add_argument("--families", required=True, help="The output CSV, one row per family.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")


def sweep_figure(summary: pd.DataFrame, rates: pd.DataFrame):
    """DAS over sites x positions: FLDD(v) - FLDD(whole) and v_row's share of FLDD(v);
    and the illusory fraction per direction family."""
    sns.set_theme(style="white", context="paper")
    das = summary[summary["direction"] == "DAS"].assign(
        beyond_whole=lambda t: t["fldd_v"] - t["fldd_whole"])
    figure, axes = plt.subplots(1, 3, figsize=(14, 0.45 * das["hook"].nunique() + 2.4),
                                gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for axis, column, title, centre in (
            (axes[0], "beyond_whole", "DAS: FLDD(v) - FLDD(whole component)", 0.0),
            (axes[1], "v_row_share", "DAS: FLDD(v_row) / FLDD(v)", None)):
        grid = das.pivot(index="hook", columns="position", values=column)
        sns.heatmap(grid, annot=True, fmt=".2f", cmap="RdBu_r" if centre is not None else "viridis",
                    center=centre, ax=axis, cbar=False)
        axis.set(title=title, xlabel="", ylabel="")
    sns.barplot(data=rates, x="illusory fraction", y="direction", ax=axes[2], color="C3")
    for row, (fraction, illusory, checks) in enumerate(
            zip(rates["illusory fraction"], rates["illusory"], rates["checks"])):
        axes[2].text(fraction + 0.02, row, f"{illusory} of {checks}", va="center")
    axes[2].set(xlim=(0, 1), title="Illusory verdicts per direction family", ylabel="",
                xlabel=f"fraction of {int(rates['checks'].max())} checks")
    figure.tight_layout()
    return figure


def run(args) -> None:
    sites = pd.read_csv(args.sites)
    summary = summarise_checks([pd.read_csv(path) for path in args.tables], sites)
    rates = family_rates(summary)
    write_table(summary, args.table)
    write_table(rates, args.families)
    save_figure(sweep_figure(summary, rates), args.figure)
