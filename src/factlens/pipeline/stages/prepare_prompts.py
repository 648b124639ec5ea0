"""Build the left-padded Fact prompts, check padding, and keep the facts the model knows."""

from __future__ import annotations

import json
import logging

import pandas as pd
import torch
from safetensors.torch import save_file

from factlens.facts.athletes import load_athletes_csv
from factlens.facts.evaluation import fact_prompts
from factlens.io import atomic_path, write_json, write_table
from factlens.facts.prompts import accuracy_table, padding_check, score_prompts
from factlens.organism.world import SPORTS, example_athlete
from factlens.pipeline.stages.common import model_arguments, open_model, schema_defaults

log = logging.getLogger("factlens.facts.prompts")


def add_arguments(parser) -> None:
    model_arguments(parser)
    defaults = schema_defaults(("prompts",))
    parser.add_argument("--athletes", required=True,
                        help="The athletes: the world's CSV or a CSV of real athletes (data/athletes.csv).")
    parser.add_argument("--athletes-format", choices=("world", "csv"), default="world",
                        help="Which of the two the athletes file is.")
    parser.add_argument("--example", type=json.loads, default=defaults["example"],
                        help="The one-shot golf example's name as a JSON string (null: the world's golfer).")
    parser.add_argument("--separator", type=json.loads, default=json.dumps(defaults["separator"]),
                        help="The text between the two facts of a prompt, as a JSON string.")
    parser.add_argument("--threshold", type=float, default=defaults["known_threshold"],
                        help="The probability of the right sport above which an athlete counts as known.")
    parser.add_argument("--tolerance", type=float, default=defaults["padding_tolerance"],
                        help="The largest logit difference allowed between padded and unpadded prompts.")
    parser.add_argument("--batch-size", type=int, default=defaults["batch_size"],
                        help="Prompts per forward pass.")
    parser.add_argument("--prompts", required=True,
                        help="The output safetensors of tokenised, left-padded prompts and masks.")
    parser.add_argument("--scores", required=True, help="The output CSV of every athlete's sport probabilities.")
    parser.add_argument("--known", required=True, help="The output CSV of the athletes the model knows.")
    parser.add_argument("--padding-check", required=True,
                        help="The output JSON comparing padded and unpadded final-token logits.")
    parser.add_argument("--by-sport", required=True, help="The output CSV of accuracy by sport.")
    parser.add_argument("--by-length", required=True,
                        help="The output CSV of accuracy by the name's length in tokens.")


def read_athletes(args) -> tuple[pd.DataFrame, str]:
    """The athletes to prompt and the one-shot example's name."""
    if args.athletes_format == "csv":
        return load_athletes_csv(args.athletes), args.example or "Tiger Woods"
    world = pd.read_csv(args.athletes)
    example = args.example or example_athlete(world)["name"]
    return world[world.sport.isin(SPORTS)].reset_index(drop=True), example


def run(args) -> None:
    model, tokenizer = open_model(args)
    athletes, example = read_athletes(args)
    prompts = fact_prompts(athletes, example, args.separator)
    batch, scores = score_prompts(model, tokenizer, athletes, prompts, SPORTS,
                                  args.threshold, args.batch_size)

    differences = padding_check(model, batch, args.batch_size)
    worst = float(differences["max_abs_diff"].max())
    check = {"prompts": len(differences), "max_abs_diff": worst,
             "mean_max_abs_diff": float(differences["max_abs_diff"].mean()),
             "tolerance": args.tolerance, "dtype": args.dtype, "passed": worst <= args.tolerance,
             "padded_length": int(batch.input_ids.shape[1])}
    write_json(check, args.padding_check)
    if not check["passed"]:
        raise ValueError(f"padded and unpadded final-token logits differ by {worst:.3g} "
                         f"> tolerance {args.tolerance}; see {args.padding_check}")
    log.info("padding check: max |padded - alone| = %.2e over %d prompts", worst, len(batch))

    kept = torch.tensor(scores["kept"].to_numpy())
    log.info("3-way accuracy %.3f; kept %d of %d athletes (p(correct) > %.2f)",
             scores["correct"].mean(), int(kept.sum()), len(scores), args.threshold)
    tensors = {
        "input_ids": batch.input_ids, "attention_mask": batch.attention_mask,
        "first_name_index": batch.first_name_index, "final_name_index": batch.final_name_index,
        "final_index": batch.final_index, "label": torch.tensor(scores["label"].to_numpy()),
        "athlete_id": torch.tensor(scores["athlete_id"].to_numpy()), "kept": kept.to(torch.uint8),
    }
    with atomic_path(args.prompts) as path:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path),
                  metadata={"sports": ",".join(SPORTS), "example": example})
    columns = ["athlete_id", "name", "sport", "predicted", "p_correct", "correct",
               "name_tokens", "kept"]
    write_table(scores[columns], args.scores)
    write_table(scores.loc[scores.kept, ["athlete_id", "name", "sport", "p_correct"]], args.known)
    write_table(accuracy_table(scores, "sport"), args.by_sport)
    write_table(accuracy_table(scores, "name_tokens"), args.by_length)
