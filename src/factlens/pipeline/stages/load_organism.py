"""Analyse an archived organism instead of training one: check the checkpoint folder
against the config and this run's tokenizer, then write what train-model writes (the
model folder, its loss curve and figure, accuracy and name-part control) from it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
from transformers import GPTNeoXForCausalLM

from factlens.organism.checkpoint import CHECKPOINT_FILES, check_checkpoint
from factlens.io import atomic_path, save_figure, write_json, write_table
from factlens.loading import load_tokenizer
from factlens.organism.training import OrganismSettings
from factlens.facts.organism_summary import summarise_organism
from factlens.pipeline.stages.common import parse_settings, schema_defaults, settings_argument
from factlens.pipeline.stages.train_model import plot_training

log = logging.getLogger("factlens.model")


def add_arguments(parser) -> None:
    settings_argument(parser)
    parser.add_argument("--checkpoint", required=True,
                        help="The archived organism's folder (e.g. results/default/model/checkpoint).")
    parser.add_argument("--threads", type=int, default=2, help="How many CPU threads to use.")
    parser.add_argument("--separator", type=json.loads, default=json.dumps(schema_defaults(("prompts",))["separator"]),
                        help="The text between the two facts of a prompt, as a JSON string.")
    parser.add_argument("--tokenizer", required=True,
                        help="This run's tokenizer folder: the checkpoint's vocabulary must equal it.")
    parser.add_argument("--athletes", required=True, help="The world's athletes (CSV).")
    parser.add_argument("--out", required=True, help="The output model folder (Hugging Face format).")
    parser.add_argument("--loss-curve", required=True, help="The output CSV: the checkpoint's training curve.")
    parser.add_argument("--figure", required=True, help="The output PNG (a PDF is written beside it).")
    parser.add_argument("--accuracy", required=True, help="The output JSON of fact accuracy.")
    parser.add_argument("--name-part-accuracy", required=True,
                        help="The output CSV: accuracy from the first or the last name alone.")


def run(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    settings = parse_settings(args.settings, OrganismSettings)
    check_checkpoint(args.checkpoint, settings, load_tokenizer(args.tokenizer))
    model = GPTNeoXForCausalLM.from_pretrained(args.checkpoint).eval()
    tokenizer = load_tokenizer(args.checkpoint)
    curve = pd.read_csv(Path(args.checkpoint) / "loss_curve.csv")
    summary, name_parts = summarise_organism(model, tokenizer, pd.read_csv(args.athletes), curve,
                                             settings, args.separator)
    log.info("archived organism %s: Fact-prompt accuracy %.3f", args.checkpoint, summary["fact_prompt_accuracy"])
    with atomic_path(args.out, directory=True) as folder:
        for name in CHECKPOINT_FILES[:-1]:
            shutil.copyfile(Path(args.checkpoint) / name, folder / name)
    write_table(curve, args.loss_curve)
    save_figure(plot_training(curve), args.figure)
    write_json(summary, args.accuracy)
    write_table(name_parts, args.name_part_accuracy)
