"""Aggregate the SAE convergence study (make sae-convergence): every SAE's metrics against
its training tokens, each SAE verdict's headline per training length with its interval,
how far each doubling moved it, and the length from which it stopped moving
(factlens.sae.convergence)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
import pandas as pd
import seaborn as sns

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from factlens.attribution.claims import attribution_headlines  # noqa: E402
from factlens.io import save_figure, write_table, write_text  # noqa: E402
from factlens.sae.convergence import (converged_multiplier, doubling_shifts, run_headlines,  # noqa: E402
                                      run_tables, study_sweep)

log = logging.getLogger("factlens.convergence")
LABELS = {"standard": "ReLU (baseline)", "gated": "Gated", "jumprelu": "JumpReLU", "topk": "TopK"}
METRICS = (("fvu", "FVU"), ("l0", "L0"), ("loss_recovered", "loss recovered"), ("dead_fraction", "dead latents"),
           ("dense_fraction", "dense latents (> 10% of tokens)"))


def add_arguments(parser) -> None:
    parser.add_argument("--runs", nargs="+", required=True,
                        help="Each training length as MULTIPLIER=FOLDER (the run's results/saes).")
    parser.add_argument("--hooks", nargs="+", required=True, help="The studied sites.")
    parser.add_argument("--attribution", action="store_true",
                        help="Also each run's attribution claims (its results/attribution tables, beside saes).")
    parser.add_argument("--organism", default="the archived organism",
                        help="Which organism the runs analyse (CONVERGENCE.md).")
    parser.add_argument("--setup", default="everything else as in the default (`make sae-convergence`)",
                        help="How the runs differ from the default besides their length (CONVERGENCE.md).")
    parser.add_argument("--sweep", required=True, help="The output CSV: every SAE of every run.")
    parser.add_argument("--headlines", required=True, help="The output CSV: each claim's headline per run.")
    parser.add_argument("--by-site", required=True,
                        help="The output CSV: each claim's headline per run at each site alone.")
    parser.add_argument("--shifts", required=True, help="The output CSV: each doubling's shift per claim.")
    parser.add_argument("--markdown", required=True, help="The output summary (CONVERGENCE.md).")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")


def convergence_figure(sweep: pd.DataFrame):
    """Each metric against training tokens: one panel per (site, metric) and architecture,
    one line per coefficient."""
    sns.set_theme(style="whitegrid", context="paper")
    hooks = sorted(sweep["hook_name"].unique())
    tokens = sorted(sweep["training_tokens"].unique())
    archs = [arch for arch in LABELS if arch in set(sweep["architecture"])]
    figure, axes = plt.subplots(len(hooks) * len(METRICS), len(archs), squeeze=False,
                                figsize=(3.0 * len(archs), 2.2 * len(hooks) * len(METRICS)))
    for h, hook in enumerate(hooks):
        for m, (metric, label) in enumerate(METRICS):
            for a, arch in enumerate(archs):
                axis = axes[h * len(METRICS) + m, a]
                part = sweep[(sweep["hook_name"] == hook) & (sweep["architecture"] == arch)]
                sns.lineplot(data=part, x="training_tokens", y=metric, hue="sparsity_coefficient",
                             marker="o", palette="viridis", errorbar=None, ax=axis, legend=m == 0)
                axis.set(xscale="log", xlabel="training tokens", ylabel=label,
                         title=f"{LABELS[arch]}, {hook}" if m == 0 else "")
                axis.set_xticks(tokens, [f"{t / 1e6:.2g}M" for t in tokens])
                axis.xaxis.set_minor_formatter(NullFormatter())  # only the lengths trained
                if metric == "l0":
                    axis.set_yscale("log")
    figure.tight_layout()
    return figure


def headline_table(headlines: pd.DataFrame, index: list[str], tokens: dict[int, int]) -> pd.DataFrame:
    """Each headline as 'value [low, high]', one column per training length."""
    cells = headlines.assign(cell=[f"{v:.3g}" + ("" if pd.isna(lo) else f" [{lo:.3g}, {hi:.3g}]")
                                   for v, lo, hi in zip(headlines["value"], headlines["low"], headlines["high"])])
    table = cells.pivot(index=index, columns="multiplier", values="cell")
    table.columns = [f"{m}x ({tokens[m] / 1e6:.2g}M tokens)" for m in table.columns]
    return table


def convergence_verdict(shifts: pd.DataFrame, converged: int | None, longest: int) -> str:
    if shifts.empty:
        return ("**No doubling measured:** these runs include no length and its double, so they say nothing "
                "about convergence (a check at the lengths above, not a study of their spacing).")
    if converged is not None:
        return (f"**Converged length:** from {converged}x the default's tokens on, no doubling measured here "
                "moves any headline by more than its interval.")
    return (f"**Not converged within {longest}x:** at least one headline still moves by more than its interval "
            "when the training doubles from the longest lengths measured here.")


def summary(headlines: pd.DataFrame, by_site: pd.DataFrame, shifts: pd.DataFrame, converged: int | None,
            hooks: list[str], tokens: dict[int, int], setup: str, organism: str, attribution: bool = False) -> str:
    wide = headlines.pivot(index="key", columns="multiplier", values="value").reindex(headlines["key"].unique())
    table = headline_table(headlines, ["key"], tokens).reindex(wide.index)
    keys = list(wide.index)
    sites = headline_table(by_site, ["key", "hook_name"], tokens).reset_index()
    sites = sites.sort_values(["key", "hook_name"], key=lambda c: c.map(keys.index) if c.name == "key" else c)
    sites = sites.rename(columns={"hook_name": "site"})
    verdicts = headlines.pivot(index="key", columns="multiplier", values="verdict").reindex(wide.index)
    verdicts.columns = [f"{m}x" for m in verdicts.columns]
    lines = ["# SAE training length: how far from convergence", "",
             f"The default's SAE sweeps at {', '.join(hooks)} retrained for "
             f"{', '.join(f'{m}x' for m in sorted(tokens))} the default's training tokens, with {organism}; "
             f"{setup} (factlens.sae.convergence). Figure: `convergence.png` (FVU, L0, loss "
             "recovered, dead and dense latents against training tokens, one line per coefficient)."
             + (" The attribution claims are rerun on each length's SAEs (MLP0's hidden-layer SAE upstream, "
                "the residual site's ReLU and JumpReLU SAEs downstream); they have no per-site rows."
                if attribution else ""), "",
             "## Each SAE verdict's headline number (95% bootstrap interval)", "",
             table.reset_index().to_markdown(index=False), "",
             "## Verdicts", "", verdicts.reset_index().to_markdown(index=False), "",
             "## Each site alone", "",
             "A claim's headline above is its extreme over every matched level of every site; here each site's "
             "own (blank: the site has no matched level at that length).", "",
             sites.to_markdown(index=False), "",
             "## Does doubling the training still move the headline?", "",
             "`settled`: the headline moved by less than the width of its 95% interval at the longer "
             "length (blank: the headline has no interval).", "",
             shifts.to_markdown(index=False, floatfmt=".3g"), "",
             convergence_verdict(shifts, converged, max(tokens))]
    return "\n".join(lines) + "\n"


def run(args) -> None:
    runs = {int(m): Path(folder) for m, folder in (item.split("=", 1) for item in args.runs)}
    sweeps, headlines, by_site = [], [], []
    for multiplier, folder in sorted(runs.items()):
        tables = run_tables(folder, args.attribution)
        sweeps.append(study_sweep(tables["sweep"], args.hooks).assign(multiplier=multiplier))
        headlines.append(pd.concat([run_headlines(tables, args.hooks)]
                                   + ([attribution_headlines(tables)] if args.attribution else []),
                                   ignore_index=True).assign(multiplier=multiplier))
        by_site.extend(run_headlines(tables, [hook]).assign(multiplier=multiplier, hook_name=hook)
                       for hook in args.hooks)
    sweep, headlines = pd.concat(sweeps, ignore_index=True), pd.concat(headlines, ignore_index=True)
    by_site = pd.concat(by_site, ignore_index=True)
    shifts = doubling_shifts(headlines)
    converged = converged_multiplier(shifts)
    tokens = sweep.groupby("multiplier")["training_tokens"].max().to_dict()
    write_table(sweep, args.sweep)
    write_table(headlines, args.headlines)
    write_table(by_site, args.by_site)
    write_table(shifts, args.shifts)
    write_text(summary(headlines, by_site, shifts, converged, args.hooks, tokens, args.setup,
                       args.organism, args.attribution), args.markdown)
    save_figure(convergence_figure(sweep), args.figure)
    log.info("converged from %s", f"{converged}x" if converged else "no length measured")
