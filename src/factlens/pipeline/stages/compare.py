"""Compare a run's claim verdicts with the archived ones: each claim's verdict and
number side by side, a one-line summary, and a non-zero exit when a verdict differs.

`make verify` compares bytes, which differ on another CPU as a matter of course; this
compares what the report concludes."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

from factlens.pipeline.stages.verify import read_committed

DEFAULT_VERDICTS = "results/default/report/verdicts.csv"


def add_arguments(parser) -> None:
    parser.add_argument("--verdicts", default=DEFAULT_VERDICTS,
                        help=f"The run's verdicts (default {DEFAULT_VERDICTS}, what a local run wrote).")
    parser.add_argument("--archived", default=DEFAULT_VERDICTS,
                        help="The archived verdicts to compare with (read at --git-ref).")
    parser.add_argument("--git-ref", default="HEAD",
                        help="The git revision the archive is read at (default HEAD, the committed "
                             "archive a local run overwrote); 'none' reads --archived from disk.")


def compare_verdicts(archived: pd.DataFrame, run: pd.DataFrame) -> pd.DataFrame:
    """One row per claim (the archive's order, then claims only the run has): both
    verdicts and numbers, and whether the verdict is the same."""
    order = list(dict.fromkeys([*archived["key"], *run["key"]]))
    table = (archived.merge(run, on="key", how="outer", suffixes=(" (archived)", " (this run)"))
             .set_index("key").loc[order].reset_index())
    table["title"] = table["title (archived)"].fillna(table["title (this run)"])
    table["same verdict"] = table["verdict (archived)"] == table["verdict (this run)"]
    return table[["key", "title", "verdict (archived)", "verdict (this run)", "value (archived)",
                  "value (this run)", "same verdict"]]


def summary_line(table: pd.DataFrame) -> str:
    """'9 of 9 verdicts as archived', or which differ."""
    same = int(table["same verdict"].sum())
    line = f"{same} of {len(table)} verdicts as archived"
    differing = table[~table["same verdict"]]
    if len(differing):
        line += "; different: " + "; ".join(
            f"{r.key} ({r._3} archived, {r._4} here)" for r in differing.itertuples())
    return line


def run(args) -> None:
    reference = None if args.git_ref == "none" else args.git_ref
    archived = pd.read_csv(io.StringIO(read_committed(Path(args.archived), reference)))
    table = compare_verdicts(archived, pd.read_csv(args.verdicts))
    shown = table.assign(**{column: table[column].map(lambda v: "-" if pd.isna(v) else f"{v:.3g}")
                            for column in ("value (archived)", "value (this run)")})
    print(shown.drop(columns="title").to_markdown(index=False))
    print(summary_line(table))
    if not table["same verdict"].all():
        sys.exit(1)
