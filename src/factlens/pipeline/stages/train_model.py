"""Train the model organism (small GPT-NeoX) and report its loss curve and fact accuracy."""

from __future__ import annotations

import json
import logging

import pandas as pd
import seaborn as sns
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factlens.organism.checkpoint import save_organism  # noqa: E402
from factlens.organism.corpus import epoch_documents  # noqa: E402
from factlens.facts.evaluation import fact_accuracy  # noqa: E402
from factlens.io import atomic_path, save_figure, write_json, write_table  # noqa: E402
from factlens.loading import load_tokenizer  # noqa: E402
from factlens.organism.training import OrganismSettings, smoothed, train_organism  # noqa: E402
from factlens.facts.organism_summary import summarise_organism  # noqa: E402
from factlens.pipeline.stages.common import parse_settings, schema_defaults, settings_argument  # noqa: E402
from factlens.organism.world import SPORTS, WorldSettings, example_athlete  # noqa: E402

log = logging.getLogger("factlens.model")


def add_arguments(parser) -> None:
    settings_argument(parser)
    parser.add_argument("--threads", type=int, default=2, help="How many CPU threads to use.")
    parser.add_argument("--separator", type=json.loads, default=json.dumps(schema_defaults(("prompts",))["separator"]),
                        help="The text between the two facts of a prompt, as a JSON string.")
    parser.add_argument("--tokenizer", required=True, help="The organism's tokenizer folder.")
    parser.add_argument("--world-settings", default="{}",
                        help="The config section `world` as a JSON object (keys left out take the "
                             "schema's defaults): the organism draws fresh epochs of text from it.")
    parser.add_argument("--athletes", required=True, help="The world's athletes (CSV).")
    parser.add_argument("--out", required=True, help="The output model folder (Hugging Face format).")
    parser.add_argument("--loss-curve", required=True, help="The output CSV of training and held-out loss.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")
    parser.add_argument("--accuracy", required=True,
                        help="The output JSON of fact accuracy on the training and held-out text.")
    parser.add_argument("--name-part-accuracy", required=True,
                        help="The output CSV: accuracy from the first or the last name alone.")


def plot_training(curve: pd.DataFrame):
    """Loss (raw and smoothed) and Fact-prompt accuracy against training tokens."""
    sns.set_theme(style="whitegrid", context="paper")
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(8, 3))
    loss_axis.plot(curve["tokens"], curve["loss"], alpha=0.3, label="batch")
    loss_axis.plot(curve["tokens"], smoothed(curve["loss"]), label="running mean")
    loss_axis.set(xlabel="training tokens", ylabel="cross-entropy (nats)", title="Loss")
    loss_axis.legend()
    evaluated = curve.dropna(subset=["fact_accuracy"])
    sns.lineplot(data=evaluated, x="tokens", y="fact_accuracy", marker="o", ax=accuracy_axis)
    accuracy_axis.axhline(1 / len(SPORTS), ls="--", color="grey", label="chance")
    accuracy_axis.set(xlabel="training tokens", ylabel="3-way accuracy", ylim=(0, 1.02),
                      title="Sport accuracy, Fact prompt")
    accuracy_axis.legend()
    figure.tight_layout()
    return figure


def run(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    settings = parse_settings(args.settings, OrganismSettings)
    world = parse_settings(args.world_settings, WorldSettings)
    tokenizer = load_tokenizer(args.tokenizer)
    athletes = pd.read_csv(args.athletes)
    example = example_athlete(athletes)["name"]
    main = athletes[athletes.sport.isin(SPORTS)]

    def evaluate(model) -> dict:
        return {"fact_accuracy": fact_accuracy(model, tokenizer, main, example, args.separator)}

    def documents_for_epoch(epoch: int) -> list[str]:
        return epoch_documents(athletes, world, epoch, separator=args.separator)

    model, curve = train_organism(settings, tokenizer, documents_for_epoch, evaluate)
    summary, name_parts = summarise_organism(model, tokenizer, athletes, curve, settings, args.separator)
    log.info("Fact-prompt accuracy %.3f; held-out templates %s; name parts %s",
             summary["fact_prompt_accuracy"], summary["heldout_template_accuracy"],
             summary["name_part_accuracy"])
    with atomic_path(args.out, directory=True) as folder:
        save_organism(model, tokenizer, folder)
    write_table(curve, args.loss_curve)
    save_figure(plot_training(curve), args.figure)
    write_json(summary, args.accuracy)
    write_table(name_parts, args.name_part_accuracy)
