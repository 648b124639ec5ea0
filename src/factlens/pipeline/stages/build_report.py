"""Build REPORT.md: every replicated claim with our numbers, the paper's and a verdict."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from factlens.io import read_json, write_table, write_text
from factlens.organism.world import SUFFIX
from factlens.pipeline.claims import collect_claims
from factlens.pipeline.report import model_card, read_setup, render_report
from factlens.sae.convergence import combine_studies, study_runs

log = logging.getLogger("factlens.pipeline.report")


def add_arguments(parser) -> None:
    parser.add_argument("--results", required=True, help="The run's results folder.")
    parser.add_argument("--model-name", required=True, help="The model name shown in the report.")
    parser.add_argument("--organism", type=json.loads, default=None,
                        help="The model.organism settings as JSON (writes the organism's model card).")
    parser.add_argument("--report", required=True, help="The output REPORT.md.")
    parser.add_argument("--tables", nargs="+", required=True,
                        help="The output CSV per claim (its Markdown twin is written beside it).")
    parser.add_argument("--model-card", default=None, help="The output model card (organism only).")
    parser.add_argument("--seeds", nargs="*", default=[],
                        help="Runs over seeds (their seeds.csv), to state for every claim how many seeds "
                             "replicate it; the first that checks a claim gives its count.")
    parser.add_argument("--seeds-links", nargs="*", default=[],
                        help="Each run's SEEDS.md relative to the report, in the order of --seeds.")
    parser.add_argument("--convergence", nargs="*", default=[],
                        help="SAE convergence studies' headlines.csv (each with its MANIFEST.json beside "
                             "it), to say how far this run's SAEs are from convergence.")
    parser.add_argument("--convergence-links", nargs="*", default=[],
                        help="Each study's CONVERGENCE.md relative to the report, in the order of "
                             "--convergence.")


def run(args) -> None:
    results = Path(args.results)
    claims = collect_claims(results, final_token=SUFFIX[-1].strip())
    targets = {Path(path).stem: path for path in args.tables}
    if set(targets) != {claim.key for claim in claims}:
        raise ValueError(f"--tables must name one CSV per claim: {sorted(c.key for c in claims)}; "
                         f"got {sorted(targets)}")
    for claim in claims:
        write_table(claim.table, targets[claim.key])
        write_text(claim.table.to_markdown(index=False) + "\n",
                   Path(targets[claim.key]).with_suffix(".md"))
        log.info("%s: replicated: %s", claim.key, claim.verdict)
    if len(args.seeds) != len(args.seeds_links):
        raise ValueError(f"--seeds-links must name one SEEDS.md per --seeds table: {args.seeds}, "
                         f"got {args.seeds_links}")
    seeds = [(pd.read_csv(path), link) for path, link in zip(args.seeds, args.seeds_links)]
    if len(args.convergence) != len(args.convergence_links):
        raise ValueError(f"--convergence-links must name one CONVERGENCE.md per --convergence table: "
                         f"{args.convergence}, got {args.convergence_links}")
    convergence = None
    if args.convergence:
        tokens = float(pd.read_csv(results / "saes" / "sweep.csv")["training_tokens"].max())
        studies = [study_runs(pd.read_csv(path), read_json(Path(path).with_name("MANIFEST.json")),
                              Path(path).parent.name) for path in args.convergence]
        links = {Path(path).parent.name: link for path, link in zip(args.convergence, args.convergence_links)}
        convergence = (combine_studies(studies), links, tokens)
    write_text(render_report(claims, read_setup(results), args.model_name,
                             organism=args.organism is not None, seeds=seeds, convergence=convergence),
               args.report)
    if args.model_card:
        if args.organism is None:
            raise ValueError("--model-card needs --organism settings")
        accuracy = read_json(results / "model" / "accuracy.json")
        lengths = pd.read_csv(results / "data" / "name_token_lengths.csv")
        write_text(model_card(args.organism, accuracy, lengths), args.model_card)
