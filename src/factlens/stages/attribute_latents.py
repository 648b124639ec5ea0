"""Gradient attributions (AtP, IG) vs activation patching for upstream SAE latents,
with a ReLU and a JumpReLU SAE spliced downstream (the JumpReLU blind spot)."""

from __future__ import annotations

import json
import logging

import matplotlib
import pandas as pd
import seaborn as sns
from safetensors.torch import load_file

matplotlib.use("Agg")

from factlens.attribution import (SplicedModel, activation_patching, attribution_patching,  # noqa: E402
                                  choose_latents, compare_methods, integrated_gradients)
from factlens.intervention import PromptSet  # noqa: E402
from factlens.io import save_figure, write_table  # noqa: E402
from factlens.patching import pair_prompts, prompt_layout  # noqa: E402
from factlens.prompts import answer_ids  # noqa: E402
from factlens.sae.saving import load_sae  # noqa: E402
from factlens.stages.common import model_arguments, open_model  # noqa: E402
from factlens.world import SPORTS  # noqa: E402

log = logging.getLogger("factlens.attribution")

METHODS = ["atp", "ig8", "ig32", "ig32_jump"]


def add_arguments(parser) -> None:
    model_arguments(parser)
    parser.add_argument("--prompts", required=True, help="fact_prompts.safetensors")
    parser.add_argument("--up-hook", required=True)
    parser.add_argument("--up-sae", required=True, help="upstream SAE folder (its latents are the nodes)")
    parser.add_argument("--down-hook", required=True)
    parser.add_argument("--down-saes", type=json.loads, required=True,
                        help='JSON {"ReLU": folder, "JumpReLU": folder}')
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--top", type=int, default=5, help="latents with the largest |AtP|")
    parser.add_argument("--random", type=int, default=5, help="plus this many random latents")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--estimates", required=True, help="output CSV, one row per pair and latent")
    parser.add_argument("--comparison", required=True, help="output CSV: agreement with AP")
    parser.add_argument("--figure", required=True, help="output PNG (+ PDF)")


def frozen_sae(folder: str):
    sae = load_sae(folder)[0]
    for parameter in sae.parameters():
        parameter.requires_grad_(False)
    return sae


def scatter_figure(estimates: pd.DataFrame):
    sns.set_theme(style="whitegrid", context="paper")
    long = estimates.melt(id_vars=["downstream", "ap", "crossings"], value_vars=METHODS,
                          var_name="method", value_name="estimate")
    long["threshold crossed"] = long["crossings"] > 0
    grid = sns.relplot(data=long, x="ap", y="estimate", hue="threshold crossed", col="method",
                       row="downstream", height=2.4, s=12, facet_kws={"sharey": False})
    for axis in grid.axes.flat:
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], color="grey", ls="--", lw=0.8)
        axis.set(xlabel="activation patching", ylabel="estimate")
    return grid.figure


def run(args) -> None:
    model, tokenizer = open_model(args)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    data = load_file(args.prompts)
    layout = prompt_layout(data["attention_mask"], data["first_name_index"], data["final_name_index"])
    pairs = pair_prompts(data["label"], layout, data["kept"].bool(), args.pairs, args.seed)
    if len(pairs.clean) == 0:
        raise ValueError("no clean/corrupt pairs of known athletes with aligned prompts")

    def prompt_set(rows):
        return PromptSet(data["input_ids"][rows], data["attention_mask"][rows],
                         data["final_name_index"][rows], data["label"][rows])

    clean, corrupt = prompt_set(pairs.clean), prompt_set(pairs.corrupt)
    answers = answer_ids(tokenizer, SPORTS)
    up_sae = frozen_sae(args.up_sae)
    records = []
    for name, folder in args.down_saes.items():
        spliced = SplicedModel(model, clean, args.up_hook, up_sae, args.down_hook, frozen_sae(folder),
                               answers[pairs.clean_label], answers[pairs.corrupt_label])
        corrupt_features = spliced.upstream_features(corrupt)
        atp = attribution_patching(spliced, corrupt_features)
        for latent in choose_latents(atp, args.top, args.random, args.seed):
            ap = activation_patching(spliced, corrupt_features, latent)
            ig8, _, _ = integrated_gradients(spliced, corrupt_features, latent, 8)
            ig32, ig32_jump, crossings = integrated_gradients(spliced, corrupt_features, latent, 32)
            for pair in range(len(ap)):
                records.append({"downstream": name, "latent": latent, "pair": pair,
                                "ap": float(ap[pair]), "atp": float(atp[pair, latent]),
                                "ig8": float(ig8[pair]), "ig32": float(ig32[pair]),
                                "ig32_jump": float(ig32_jump[pair]),
                                "crossings": int(crossings[pair])})
    estimates = pd.DataFrame(records)
    comparison = pd.concat([compare_methods(group, METHODS).assign(downstream=name)
                            for name, group in estimates.groupby("downstream", sort=False)])
    log.info("agreement with activation patching:\n%s", comparison.to_string(index=False))
    write_table(estimates, args.estimates)
    write_table(comparison, args.comparison)
    save_figure(scatter_figure(estimates), args.figure)
