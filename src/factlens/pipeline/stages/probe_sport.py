"""Linear-probe accuracy for the sport, layer by layer, at the final name token and
(as a positive control) at the final token, with a sweep of the regularisation."""

from __future__ import annotations

import logging

import matplotlib
import pandas as pd
import seaborn as sns
from safetensors.torch import load_file

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factlens.illusion.intervention import PROMPT_POSITIONS  # noqa: E402
from factlens.io import save_figure, write_table  # noqa: E402
from factlens.blocks import is_parallel, residual_hooks  # noqa: E402
from factlens.facts.probing import probe_sweep, residual_at_positions, split_by_name_parts  # noqa: E402
from factlens.pipeline.stages.common import model_arguments, open_model, schema_defaults  # noqa: E402

log = logging.getLogger("factlens.probe")



def add_arguments(parser) -> None:
    model_arguments(parser)
    defaults = schema_defaults(("localisation", "probe"))
    parser.add_argument("--prompts", required=True, help="The fact prompts (fact_prompts.safetensors).")
    parser.add_argument("--scores", required=True, help="The prompt scores (prompts/scores.csv, athlete names).")
    parser.add_argument("--test-fraction", type=float, default=defaults["test_fraction"],
                        help="The share of athletes held out from the probes' training.")
    parser.add_argument("--regularisation", type=float, nargs="+", default=defaults["regularisation"],
                        help="The inverse L2 strengths C to sweep.")
    parser.add_argument("--seed", type=int, default=defaults["seed"], help="The seed of the athlete split.")
    parser.add_argument("--table", required=True, help="The output CSV.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")


def probe_figure(table):
    """Held-out accuracy (C chosen on the training athletes) and training accuracy by
    layer, at both positions."""
    sns.set_theme(style="whitegrid", context="paper")
    figure, axis = plt.subplots(figsize=(5.5, 3.2))
    selected = table[table["selected"]]
    long = selected.melt(id_vars=["layer", "site", "position"],
                         value_vars=["train_accuracy", "test_accuracy"],
                         var_name="split", value_name="accuracy")
    long["split"] = long["split"].map({"train_accuracy": "train", "test_accuracy": "held-out"})
    sns.lineplot(data=long, x="layer", y="accuracy", hue="position", style="split", marker="o", ax=axis)
    axis.axhline(1 / 3, ls=":", color="grey", label="chance")
    sites = selected.drop_duplicates("layer")
    axis.set_xticks(sites["layer"], sites["site"], rotation=30, ha="right")
    axis.set(ylim=(0, 1.02), xlabel="", ylabel="3-way probe accuracy",
             title="Sport probes (athletes split by name part)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def run(args) -> None:
    model, _ = open_model(args)
    prompts = load_file(args.prompts)
    kept = prompts["kept"].bool().nonzero().flatten()
    names = (pd.read_csv(args.scores).set_index("athlete_id")["name"]
             .loc[prompts["athlete_id"][kept].numpy()].str.split())
    train, test = split_by_name_parts(names.str[0].to_numpy(), names.str[-1].to_numpy(),
                                      args.test_fraction, args.seed)
    if len(train) < 10 or len(test) < 5:
        raise ValueError(f"only {len(kept)} known athletes ({len(train)} train, {len(test)} held-out "
                         "after splitting by name part); too few to train a probe")
    labels = prompts["label"][kept].numpy()
    hooks = residual_hooks(model.cfg.n_layers, is_parallel(model))
    tables = []
    for position, index in PROMPT_POSITIONS.items():
        features = residual_at_positions(model, prompts["input_ids"][kept], prompts["attention_mask"][kept],
                                         prompts[index][kept], hooks)
        tables.append(probe_sweep(features, labels, train, test, args.regularisation,
                                  args.seed, hooks).assign(position=position))
    table = pd.concat(tables, ignore_index=True)
    log.info("probe accuracy by layer (%d train, %d held-out athletes, no name part shared):\n%s",
             len(train), len(test), table.to_string(index=False))
    write_table(table, args.table)
    save_figure(probe_figure(table), args.figure)
