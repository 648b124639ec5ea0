"""Activation patching on clean/corrupt Fact prompts: where is the sport looked up?"""

from __future__ import annotations

import logging

import matplotlib
import pandas as pd
import seaborn as sns
import torch
from safetensors.torch import load_file

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factlens.blocks import is_parallel, residual_hooks  # noqa: E402
from factlens.io import save_figure, write_table  # noqa: E402
from factlens.facts.patching import pair_prompts, patching_effects, prompt_layout, summarise_effects  # noqa: E402
from factlens.facts.prompts import answer_ids  # noqa: E402
from factlens.pipeline.stages.common import model_arguments, open_model, schema_defaults  # noqa: E402
from factlens.organism.world import SPORTS  # noqa: E402

log = logging.getLogger("factlens.facts.patching")

COMPONENT_POSITIONS = ["final name token", "of"]


def add_arguments(parser) -> None:
    model_arguments(parser)
    defaults = schema_defaults(("localisation", "patching"))
    parser.add_argument("--prompts", required=True, help="The fact prompts (fact_prompts.safetensors).")
    parser.add_argument("--scores", required=True, help="The prompt scores (prompts/scores.csv, athlete names).")
    parser.add_argument("--pairs", type=int, default=defaults["pairs"],
                        help="How many clean/corrupted prompt pairs to patch.")
    parser.add_argument("--seed", type=int, default=defaults["seed"], help="The seed that draws the pairs.")
    parser.add_argument("--table", required=True,
                        help="The output CSV: the mean fraction of the logit difference each patch restores.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")


def last_name_ids(prompts, scores: pd.DataFrame) -> torch.Tensor:
    """One id per prompt: its athlete's last name (the name's last word)."""
    last = scores.set_index("athlete_id")["name"].str.split().str[-1]
    codes, _ = pd.factorize(last.loc[prompts["athlete_id"].numpy()])
    return torch.tensor(codes)


def heatmaps(residual, components, swap):
    """Fraction of the logit difference restored: residual stream by layer and position,
    attention vs MLP outputs by layer at the final name token and final token, and the
    same outputs at the final name token when only the first name differs."""
    sns.set_theme(style="white", context="paper")
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.6), gridspec_kw={"width_ratios": [2, 1, 0.6]})
    for axis, table, title in ((axes[0], residual, "Residual stream"),
                               (axes[1], components, "Attention and MLP outputs"),
                               (axes[2], swap, "Only the first name differs")):
        grid = table.pivot(index="hook", columns="position", values="restored_mean")
        grid = grid.reindex(index=list(dict.fromkeys(table["hook"])),
                            columns=list(dict.fromkeys(table["position"])))
        sns.heatmap(grid, ax=axis, cmap="RdBu", center=0, vmin=-1, vmax=1, annot=True,
                    fmt=".2f", cbar=axis is axes[-1], cbar_kws={"label": "fraction restored"})
        axis.set(title=title, xlabel="", ylabel="")
        axis.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    return figure


def run(args) -> None:
    model, tokenizer = open_model(args)
    prompts = load_file(args.prompts)
    layout = prompt_layout(prompts["attention_mask"], prompts["first_name_index"],
                           prompts["final_name_index"])
    pairs = pair_prompts(prompts["label"], layout, prompts["kept"].bool(), args.pairs, args.seed)
    if len(pairs.clean) == 0:
        raise ValueError("no clean/corrupt pairs: no two known athletes of different sports "
                         "have prompts of the same layout (name and prompt length)")
    answers = answer_ids(tokenizer, SPORTS)
    layers = model.cfg.n_layers
    inputs = (model, prompts["input_ids"], prompts["attention_mask"], prompts["first_name_index"],
              prompts["final_name_index"], pairs, answers)
    residual_sites = residual_hooks(layers, is_parallel(model))
    component_hooks = [f"blocks.{l}.hook_{kind}_out" for l in range(layers) for kind in ("attn", "mlp")]
    residual = summarise_effects(patching_effects(*inputs, residual_sites))
    components = summarise_effects(patching_effects(*inputs, component_hooks,
                                                    groups=COMPONENT_POSITIONS))
    # Pairs with the same last name: only the first name differs, so whatever restores
    # at the final name token carries first-name information there (the gather step).
    swap_pairs = pair_prompts(prompts["label"], layout, prompts["kept"].bool(), args.pairs,
                              args.seed, shared=last_name_ids(prompts, pd.read_csv(args.scores)))
    if len(swap_pairs.clean) == 0:
        raise ValueError("no first-name-swap pairs: no two known athletes of different sports "
                         "share a last name and a prompt layout")
    swap = summarise_effects(patching_effects(*inputs[:5], swap_pairs, answers, component_hooks,
                                              groups=["final name token"]))
    table = pd.concat([residual.assign(family="residual"), components.assign(family="component"),
                       swap.assign(family="first-name swap")])
    log.info("%d pairs (%d first-name-swap pairs); fraction restored:\n%s", len(pairs.clean),
             len(swap_pairs.clean), table.to_string(index=False))
    write_table(table, args.table)
    save_figure(heatmaps(residual, components, swap), args.figure)
