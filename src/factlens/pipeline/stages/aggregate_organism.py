"""Aggregate the organism over seeds: one row per seed (training, accuracy, name-part
control, localisation, the illusion site and its DAS numbers), the targets counted over
seeds, the illusion verdict's sensitivity to its two lines, and a figure."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib
import pandas as pd
import seaborn as sns

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from factlens.io import save_figure, write_table, write_text  # noqa: E402
from factlens.pipeline.organism_seeds import seed_row, targets_met  # noqa: E402
from factlens.pipeline.seeds import aggregate, table_links  # noqa: E402

log = logging.getLogger("factlens.pipeline.seeds")

SHOWN = {"seed": "seed", "steps": "steps", "train_seconds": "training (s)", "fact_accuracy": "Fact",
         "heldout_mean": "held-out mean", "heldout_min": "held-out min", "name_margin": "full name margin",
         "localisation": "localisation", "off_circuit": "off-circuit MLP", "off_whole": "whole",
         "off_das": "DAS v", "off_v_row": "v_row", "off_v_null": "v_null", "off_verdict": "verdict",
         "control": "negative control", "control_das": "control DAS", "control_verdict": "control verdict"}


def add_arguments(parser) -> None:
    parser.add_argument("--runs", nargs="+", required=True,
                        help="Each seed's run as SEED=RESULTSDIR=BENCHMARK (its results folder and "
                             "the train_model benchmark file).")
    parser.add_argument("--base", required=True, help="The base config the seeds vary (shown in the summary).")
    parser.add_argument("--table", required=True, help="The output CSV, one row per seed.")
    parser.add_argument("--sensitivity", required=True,
                        help="The output CSV: each seed's illusion verdict as the two lines move.")
    parser.add_argument("--verdicts", required=True,
                        help="The output CSV, one row per seed and claim (the organism's claims).")
    parser.add_argument("--claims", required=True,
                        help="The output CSV, one row per claim over seeds (what REPORT.md reads).")
    parser.add_argument("--markdown", required=True, help="The output Markdown summary.")
    parser.add_argument("--seed-tables", nargs="*", default=[],
                        help="Each seed's archived tables, relative to the summary's folder "
                             "(seed-N/<table>), to link from it.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")


def organism_figure(curves: pd.DataFrame, seeds: pd.DataFrame):
    """Fact accuracy while training, per seed; and the off-circuit MLP's patches per seed."""
    sns.set_theme(style="whitegrid", context="paper")
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    sns.lineplot(data=curves, x="step", y="fact_accuracy", hue="seed", marker=".", ax=left,
                 palette="tab10")
    left.axhline(0.95, ls="--", color="grey", label="target 95%")
    left.axhline(1 / 3, ls=":", color="grey", label="chance")
    left.set(ylim=(0, 1.02), ylabel="Fact-prompt accuracy (training form)", title="Training, by seed")
    left.legend(fontsize=7)
    bars = seeds.melt(id_vars="seed", value_vars=[c for c in ("off_whole", "off_das", "off_v_row")
                                                  if c in seeds], var_name="patch", value_name="FLDD")
    bars["patch"] = bars["patch"].map({"off_whole": "whole MLP", "off_das": "DAS v", "off_v_row": "v_row"})
    if len(bars.dropna()):
        sns.barplot(data=bars, x="seed", y="FLDD", hue="patch", ax=right)
    right.set(title="Off-circuit MLP at the final token", ylabel="fractional logit-difference decrease")
    figure.tight_layout()
    return figure


def percentages(table: pd.DataFrame) -> pd.DataFrame:
    return table.apply(lambda column: column.map(lambda v: f"{v:.1%}" if isinstance(v, float) else v)
                       if column.name not in ("seed", "steps", "train_seconds", "decay_start") else column)


def run(args) -> None:
    rows, sensitivities, curves, verdicts = [], [], [], []
    for item in args.runs:
        seed, results, benchmark = item.split("=")
        seconds = float(pd.read_csv(benchmark, sep="\t")["s"].iloc[0])
        row, moved, claims = seed_row(int(seed), Path(results), seconds)
        rows.append(row)
        verdicts += [{"seed": int(seed), "key": c.key, "title": c.title, "verdict": c.verdict,
                      "metric": c.metric, "value": c.value, "line": c.line, "passes": c.passes}
                     for c in claims]
        sensitivities.append(moved)
        curve = pd.read_csv(Path(results) / "model/loss_curve.csv").dropna(subset=["fact_accuracy"])
        curves.append(curve.assign(seed=str(seed)))
    seeds = pd.DataFrame(rows)
    moved = pd.concat(sensitivities, ignore_index=True)
    targets = targets_met(seeds)
    log.info("organism over seeds:\n%s\n%s", seeds.to_string(index=False), targets.to_string(index=False))
    grid = moved.assign(lines=[f"whole < {w:.0%}, v_row < {s:.0%}" for w, s in
                               zip(moved["whole_line"], moved["row_share_line"])])
    grid = grid.pivot(index="lines", columns="seed", values="verdict").reindex(list(dict.fromkeys(grid["lines"])))
    shown = percentages(seeds[[c for c in SHOWN if c in seeds]]).rename(columns=SHOWN).fillna("-")
    median = seeds["train_seconds"].median()
    text = ["# The organism over seeds", "",
            f"The base config `{args.base}` with the seed of the world, the organism, the probes, the "
            f"patching pairs and DAS set to each of {', '.join(map(str, seeds['seed']))}; the organism is "
            "trained and analysed (prompts, probes, patching, illusion sites) without the SAEs. Generated by "
            "`python -m factlens aggregate-organism`; `organism.csv` has every number, `verdicts.csv` each "
            "seed's claim verdicts (`seeds.csv` counts them; the default REPORT.md reads it), `sensitivity.csv` the "
            "verdicts under moved lines.", "",
            f"Training wall time: median {median:.0f} s ({median / 60:.1f} min), range "
            f"{seeds['train_seconds'].min():.0f}-{seeds['train_seconds'].max():.0f} s, "
            f"{seeds['steps'].min()}-{seeds['steps'].max()} steps.", "",
            "## Targets", "", targets.to_markdown(index=False), "",
            "## Each seed", "", shown.to_markdown(index=False), "",
            "Every MLP at the final token (DAS check at each; whole = its whole-output patch):", "",
            *[f"- seed {r.seed}: {r.final_token_mlps}" for r in seeds.itertuples()], "",
            "Localisation, in the report's words:", "",
            *[f"- seed {r.seed}: {r.localisation_summary}" for r in seeds.itertuples()], "",
            "## How the illusion verdict depends on its two lines", "",
            "The site rule's whole-component line (the off-circuit MLP's whole-output patch must restore "
            "less) and the verdict's v_row-share line (v_row alone must carry less of DAS's effect), each "
            "at half, the stated value and one and a half times it (docs/illusion.md):", "",
            grid.to_markdown(), "", "![organism over seeds](organism.png)", "",
            "## Each seed's tables", "",
            "The organism's accuracy, name-part control and training curve, the patching and probe "
            "tables and the illusion sites and checks of every seed, copied from its run:", "",
            *table_links(args.seed_tables), ""]
    verdicts = pd.DataFrame(verdicts)
    write_table(seeds, args.table)
    write_table(verdicts, args.verdicts)
    write_table(aggregate(verdicts), args.claims)
    write_table(moved, args.sensitivity)
    write_text("\n".join(text), args.markdown)
    save_figure(organism_figure(pd.concat(curves, ignore_index=True), seeds), args.figure)
