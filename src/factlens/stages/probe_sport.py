"""Linear-probe accuracy for the sport at the final name token, layer by layer."""

from __future__ import annotations

import logging

import matplotlib
import seaborn as sns
from safetensors.torch import load_file

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factlens.io import save_figure, write_table  # noqa: E402
from factlens.probing import probe_accuracy_by_layer, residual_at_positions, split_athletes  # noqa: E402
from factlens.stages.common import model_arguments, open_model  # noqa: E402

log = logging.getLogger("factlens.probe")


def add_arguments(parser) -> None:
    model_arguments(parser)
    parser.add_argument("--prompts", required=True, help="fact_prompts.safetensors")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--regularisation", type=float, default=1.0, help="inverse L2 strength C")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--table", required=True, help="output CSV")
    parser.add_argument("--figure", required=True, help="output PNG (+ PDF)")


def probe_figure(table):
    sns.set_theme(style="whitegrid", context="paper")
    figure, axis = plt.subplots(figsize=(5, 3))
    long = table.melt(id_vars=["layer", "site"], value_vars=["train_accuracy", "test_accuracy"],
                      var_name="split", value_name="accuracy")
    long["split"] = long["split"].str.replace("_accuracy", " athletes")
    sns.lineplot(data=long, x="layer", y="accuracy", hue="split", marker="o", ax=axis)
    axis.axhline(1 / 3, ls="--", color="grey", label="chance")
    axis.set_xticks(table["layer"], table["site"], rotation=30, ha="right")
    axis.set(ylim=(0, 1.02), xlabel="", ylabel="3-way probe accuracy",
             title="Sport probe at the final name token")
    axis.legend()
    figure.tight_layout()
    return figure


def run(args) -> None:
    model, _ = open_model(args)
    prompts = load_file(args.prompts)
    kept = prompts["kept"].bool().nonzero().flatten()
    if len(kept) < 10:
        raise ValueError(f"only {len(kept)} known athletes; too few to train a probe")
    features = residual_at_positions(model, prompts["input_ids"][kept], prompts["attention_mask"][kept],
                                     prompts["final_name_index"][kept], model.cfg.n_layers)
    train, test = split_athletes(len(kept), args.test_fraction, args.seed)
    table = probe_accuracy_by_layer(features, prompts["label"][kept].numpy(), train, test,
                                    args.regularisation)
    log.info("probe accuracy by layer:\n%s", table.to_string(index=False))
    write_table(table, args.table)
    save_figure(probe_figure(table), args.figure)
