"""Each claim's verdict and headline number, as a table (report/verdicts.csv): what the
seeds run aggregates. Separate from the report, which reads that aggregate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from factlens.io import write_table
from factlens.organism.world import SUFFIX
from factlens.pipeline.claims import collect_claims


def add_arguments(parser) -> None:
    parser.add_argument("--results", required=True, help="The run's results folder.")
    parser.add_argument("--table", required=True, help="The output CSV, one row per claim.")


def run(args) -> None:
    claims = collect_claims(Path(args.results), final_token=SUFFIX[-1].strip())
    write_table(pd.DataFrame([{"key": c.key, "title": c.title, "verdict": c.verdict, "metric": c.metric,
                               "value": c.value, "line": c.line, "passes": c.passes} for c in claims]),
                args.table)
