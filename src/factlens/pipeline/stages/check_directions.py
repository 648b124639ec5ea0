"""Learn a DAS direction at one site and position and run the illusion check on it and
on directions found without optimisation (mean difference, probe, neuron, SAE latent)."""

from __future__ import annotations

import json
import logging

import matplotlib
import pandas as pd
import seaborn as sns
import torch
from safetensors.torch import load_file

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factlens.illusion.das import DASSettings, train_das_restarts  # noqa: E402
from factlens.illusion.checks import baseline_directions, check_direction  # noqa: E402
from factlens.illusion.verdicts import red_flags, verdict  # noqa: E402
from factlens.illusion.intervention import (PROMPT_POSITIONS, PromptSet, make_pairs,  # noqa: E402
                                   patching_outcome, site_activations)
from factlens.io import save_figure, write_table  # noqa: E402
from factlens.loading import check_hook_name  # noqa: E402
from factlens.facts.prompts import answer_ids  # noqa: E402
from factlens.sae.saving import load_sae  # noqa: E402
from factlens.pipeline.stages.common import (model_arguments, open_model, parse_settings, schema_defaults,  # noqa: E402
                                    settings_argument)
from factlens.illusion.sites import position_slug  # noqa: E402
from factlens.illusion.subspace import downstream_reader  # noqa: E402
from factlens.organism.world import SPORTS  # noqa: E402

log = logging.getLogger("factlens.directions")


def add_arguments(parser) -> None:
    model_arguments(parser)
    settings_argument(parser)
    defaults = schema_defaults(("directions",))
    parser.add_argument("--prompts", required=True, help="The fact prompts (fact_prompts.safetensors).")
    parser.add_argument("--hook", required=True,
                        help="The site: blocks.L.mlp.hook_post or blocks.L.hook_resid_post.")
    parser.add_argument("--position", required=True,
                        choices=sorted([*PROMPT_POSITIONS, *map(position_slug, PROMPT_POSITIONS)]),
                        help="Where in the prompt the direction is learned and patched.")
    parser.add_argument("--sports", type=json.loads, required=True, help="Two sports, as JSON.")
    parser.add_argument("--test-fraction", type=float, default=defaults["test_fraction"],
                        help="Fraction of athletes held out for every reported number.")
    parser.add_argument("--pairs", type=int, default=defaults["pairs"],
                        help="Training pairs; the held-out athletes give half as many.")
    parser.add_argument("--sae", default="", help="An SAE folder at this hook (optional).")
    parser.add_argument("--table", required=True, help="The output CSV.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")


def illusion_figure(table: pd.DataFrame, site: str):
    sns.set_theme(style="whitegrid", context="paper")
    colours = dict(zip(("v", "v_row", "v_null"), sns.color_palette(n_colors=3)))
    shown = table[(table["direction"] != "full component") & table["variant"].isin(colours)
                  & ~table["direction"].str.startswith("DAS restart")]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4))
    sns.barplot(data=shown, x="direction", y="fldd", hue="variant", palette=colours, ax=left)
    full = table.loc[table["direction"] == "full component", "fldd"]
    if len(full):
        left.axhline(float(full.iloc[0]), color="black", ls="--", label="full component")
    left.set(ylabel="fractional logit-difference decrease", xlabel="", title=f"Patching at {site}")
    left.legend(fontsize=7)
    sns.barplot(data=shown[shown["variant"] != "v"], x="direction", y="separation",
                hue="variant", palette=colours, ax=right)
    right.set(ylabel="class separation of unpatched projections (d)", xlabel="",
              title="Dormancy: does the part vary with the sport?")
    for axis in (left, right):
        axis.tick_params(axis="x", rotation=20)
    figure.tight_layout()
    return figure


def run(args) -> None:
    settings = parse_settings(args.settings, DASSettings)
    position = args.position.replace("_", " ")
    model, tokenizer = open_model(args)
    check_hook_name(model, args.hook)
    data = load_file(args.prompts)
    wanted = torch.tensor([SPORTS.index(s) for s in args.sports])
    rows = (data["kept"].bool() & torch.isin(data["label"], wanted)).nonzero().flatten()
    if len(rows) < 20:
        raise ValueError(f"only {len(rows)} known athletes of {args.sports}; need at least 20")
    prompts = PromptSet(data["input_ids"][rows], data["attention_mask"][rows],
                        data[PROMPT_POSITIONS[position]][rows], data["label"][rows])
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(settings.seed))
    n_test = max(2, int(args.test_fraction * len(rows)))
    test, train = order[:n_test], order[n_test:]
    answers = answer_ids(tokenizer, SPORTS)
    activations = site_activations(model, prompts, args.hook)
    base, source = (train[i] for i in make_pairs(prompts.label[train], settings.seed, args.pairs))
    test_base, test_source = (test[i] for i in make_pairs(prompts.label[test], settings.seed + 1,
                                                          max(1, args.pairs // 2)))

    restarts = train_das_restarts(model, prompts, args.hook, activations, base, source, answers,
                                  settings)
    for record in restarts:
        log.info("DAS restart %d: %s", record["restart"], record["history"])
    validation_losses = {"DAS": restarts[0]["validation_loss"],
                         **{f"DAS restart {r['restart']}": r["validation_loss"] for r in restarts}}
    sae = load_sae(args.sae)[0] if args.sae else None
    directions = {"DAS": restarts[0]["vector"],
                  **{f"DAS restart {r['restart']}": r["vector"]
                     for r in sorted(restarts, key=lambda r: r["restart"])},
                  **baseline_directions(activations, prompts.label, train,
                                        neurons=args.hook.endswith("mlp.hook_post"), sae=sae)}
    reader = downstream_reader(model, args.hook)
    full = patching_outcome(model, prompts, args.hook, activations, test_base, test_source,
                            answers, None)
    records = [{"direction": "full component", "variant": "whole activation", **full}]
    for name, vector in directions.items():
        found = pd.DataFrame(check_direction(model, prompts, args.hook, activations, test_base,
                                             test_source, answers, vector, reader, test))
        found["direction"], found["verdict"] = name, verdict(found, full["fldd"])
        for flag, raised in red_flags(found, full["fldd"]).items():
            found[flag] = raised
        found["validation_loss"] = validation_losses.get(name, float("nan"))
        records.extend(found.to_dict("records"))
    table = pd.DataFrame(records)
    table.insert(0, "hook", args.hook)
    table.insert(1, "position", position)
    log.info("illusion check at %s, %s:\n%s", args.hook, position, table.to_string(index=False))
    write_table(table, args.table)
    save_figure(illusion_figure(table, f"{args.hook}, {position}"), args.figure)
