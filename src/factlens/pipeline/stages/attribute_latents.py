"""Gradient attributions (AtP, IG) vs activation patching for upstream SAE latents,
with a ReLU and a JumpReLU SAE spliced downstream (the JumpReLU blind spot)."""

from __future__ import annotations

import json
import logging

import matplotlib
import pandas as pd
import torch
import seaborn as sns
from safetensors.torch import load_file

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from factlens.attribution.methods import (SplicedModel, activation_patching, attribution_patching,  # noqa: E402
                                  choose_nodes, compare_methods, path_attributions,
                                  single_node_paths)
from factlens.illusion.intervention import PromptSet  # noqa: E402
from factlens.io import save_figure, write_table  # noqa: E402
from factlens.facts.patching import pair_prompts, prompt_layout  # noqa: E402
from factlens.facts.prompts import answer_ids  # noqa: E402
from factlens.sae.saving import load_sae  # noqa: E402
from factlens.pipeline.stages.common import model_arguments, open_model, schema_defaults  # noqa: E402
from factlens.organism.world import SPORTS  # noqa: E402

log = logging.getLogger("factlens.attribution.methods")

# Per node: estimates along the joint path (all upstream latents move together, as
# practised) and along each node's own path (a sanity check). Per pair: the sum over
# every upstream latent against the total effect (completeness).
JOINT = ["atp", "ig8", "ig32", "ig128", "ig128_jump", "ig128_step"]
SINGLE_NODE = ["node_ig32", "node_ig32_jump"]
STEPS = (8, 32, 128)  # IG step counts; one pass of the 128-step grid serves all three
TOTALS = ["ig8", "ig32", "ig128", "ig128_jump", "ig128_step"]


def add_arguments(parser) -> None:
    model_arguments(parser)
    defaults = schema_defaults(("attribution",))
    parser.add_argument("--prompts", required=True, help="The fact prompts (fact_prompts.safetensors).")
    parser.add_argument("--up-hook", required=True, help="The hook of the upstream SAE.")
    parser.add_argument("--up-sae", required=True, help="The upstream SAE folder (its latents are the nodes).")
    parser.add_argument("--down-hook", required=True, help="The hook of the downstream SAEs.")
    parser.add_argument("--down-saes", type=json.loads, required=True,
                        help='The downstream SAE folders as JSON: {"ReLU": folder, "JumpReLU": folder}.')
    parser.add_argument("--pairs", type=int, default=defaults["pairs"], help="How many clean/corrupt pairs.")
    parser.add_argument("--top", type=int, default=defaults["top_latents"],
                        help="How many nodes with the largest mean |AP| to compare.")
    parser.add_argument("--random", type=int, default=defaults["random_latents"],
                        help="How many random nodes that move to compare besides them.")
    parser.add_argument("--seed", type=int, default=defaults["seed"], help="The seed of pairs and nodes.")
    parser.add_argument("--estimates", required=True, help="The output CSV, one row per pair and node.")
    parser.add_argument("--totals", required=True, help="The output CSV, one row per pair (completeness).")
    parser.add_argument("--comparison", required=True, help="The output CSV: agreement with AP.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")


def frozen_sae(folder: str):
    sae = load_sae(folder)[0]
    for parameter in sae.parameters():
        parameter.requires_grad_(False)
    return sae


def figure_of(estimates: pd.DataFrame, comparison: pd.DataFrame):
    """Per downstream SAE: per-node estimates against AP (red: the pair's joint path
    crosses a downstream threshold), and the completeness error of joint-path IG against
    its step count, with and without the jump term."""
    sns.set_theme(style="whitegrid", context="paper")
    panels = ["atp", "ig128", "ig128_jump", "node_ig32"]
    downstream = list(dict.fromkeys(estimates["downstream"]))
    figure, axes = plt.subplots(len(downstream), len(panels) + 1, squeeze=False,
                                figsize=(2.6 * (len(panels) + 1), 2.5 * len(downstream)))
    for row, name in zip(axes, downstream):
        part = estimates[estimates["downstream"] == name]
        for axis, method in zip(row, panels):
            # coloured by whether the joint path crosses a downstream threshold (the blind spot)
            sns.scatterplot(data=part.assign(crossed=part["joint_crossings"] > 0), x="ap", y=method,
                            hue="crossed", hue_order=[False, True], palette=["C0", "C3"], s=8,
                            ax=axis, legend=method == panels[0])
            low, high = axis.get_xlim()
            axis.plot([low, high], [low, high], color="grey", ls="--", lw=0.8)
            axis.set(title=f"{name}: {method}", xlabel="activation patching", ylabel="estimate")
        total = comparison[(comparison["scope"] == "total") & (comparison["downstream"] == name)
                           & (comparison["stratum"] == "all")].set_index("method")
        counts = [int(m[2:]) for m in total.index if m[2:].isdigit()]
        axis = row[-1]
        axis.plot(counts, [total.loc[f"ig{n}", "relative_mae"] for n in counts], "o-", label="IG")
        for method, marker in (("ig128_jump", "s"), ("ig128_step", "^")):
            axis.plot([max(counts)], [total.loc[method, "relative_mae"]], marker, label=method)
        axis.set(xscale="log", yscale="symlog", title=f"{name}: completeness",
                 xlabel="IG steps", ylabel="relative error of the sum")
        axis.legend(fontsize=6)
    figure.tight_layout()
    return figure


def attributions(spliced, corrupt_features, nodes: list[int], steps=STEPS):
    """Per-node and per-pair (total) estimates through one spliced model."""
    clean = spliced.splice.up_features
    delta = corrupt_features - clean
    ap = activation_patching(spliced, corrupt_features, nodes)
    atp = attribution_patching(spliced, corrupt_features)
    joint = path_attributions(spliced, delta, steps)
    finest = max(steps)
    per_node = {"ap": ap, "atp": atp[:, nodes], "joint_crossings": joint.crossings[:, None].expand(-1, len(nodes))}
    per_node.update({f"ig{n}": joint.ig[n][:, nodes] for n in steps})
    per_node[f"ig{finest}_jump"] = (joint.ig[finest] + joint.jump)[:, nodes]
    per_node[f"ig{finest}_step"] = (joint.ig[finest] + joint.step)[:, nodes]
    node_ig, node_ig_jump, crossings = single_node_paths(spliced, delta, nodes, 32)
    per_node.update(node_ig32=node_ig, node_ig32_jump=node_ig_jump, crossings=crossings)
    with torch.no_grad():
        total = {"ap": spliced.run(corrupt_features) - spliced.run(clean), "crossings": joint.crossings}
    total.update({f"ig{n}": joint.ig[n].sum(1) for n in steps})
    total[f"ig{finest}_jump"] = (joint.ig[finest] + joint.jump).sum(1)
    total[f"ig{finest}_step"] = (joint.ig[finest] + joint.step).sum(1)
    return per_node, total


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
    good, bad = answers[pairs.clean_label], answers[pairs.corrupt_label]
    up_sae = frozen_sae(args.up_sae)
    # the nodes are chosen once, by AP in the model with only the upstream SAE spliced,
    # and are the same for every downstream SAE
    model_only = SplicedModel(model, clean, args.up_hook, up_sae, None, None, good, bad)
    corrupt_features = model_only.upstream_features(corrupt)
    moving = ((corrupt_features - model_only.splice.up_features).abs() > 0).any(0)
    candidates = moving.nonzero().flatten().tolist()
    nodes = choose_nodes(activation_patching(model_only, corrupt_features, candidates), candidates,
                         args.top, args.random, args.seed)
    log.info("%d pairs; %d upstream latents move; nodes %s", len(pairs.clean), len(candidates), nodes)
    estimates, totals = [], []
    for name, folder in args.down_saes.items():
        spliced = SplicedModel(model, clean, args.up_hook, up_sae, args.down_hook, frozen_sae(folder),
                               good, bad)
        per_node, total = attributions(spliced, corrupt_features, nodes)
        for column, node in enumerate(nodes):
            estimates.append(pd.DataFrame({"downstream": name, "latent": node,
                                           "pair": range(len(pairs.clean)),
                                           **{k: v[:, column].numpy() for k, v in per_node.items()}}))
        totals.append(pd.DataFrame({"downstream": name, "pair": range(len(pairs.clean)),
                                    **{k: v.numpy() for k, v in total.items()}}))
    estimates, totals = pd.concat(estimates, ignore_index=True), pd.concat(totals, ignore_index=True)
    comparison = pd.concat([
        part for name in args.down_saes for part in (
            compare_methods(estimates[estimates.downstream == name], JOINT, seed=args.seed)
            .assign(scope="node (joint path)", downstream=name),
            compare_methods(estimates[estimates.downstream == name], SINGLE_NODE, seed=args.seed)
            .assign(scope="node (own path, sanity check)", downstream=name),
            compare_methods(totals[totals.downstream == name], TOTALS, top_k=1, seed=args.seed)
            .assign(scope="total", downstream=name))])
    log.info("agreement with activation patching:\n%s", comparison.to_string(index=False))
    write_table(estimates, args.estimates)
    write_table(totals, args.totals)
    write_table(comparison, args.comparison)
    save_figure(figure_of(estimates, comparison), args.figure)
