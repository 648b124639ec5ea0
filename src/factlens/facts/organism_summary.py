"""What the organism knows, once trained or loaded: Fact-prompt accuracy, the held-out
templates, the name-part control, and how its training ended (model/accuracy.json)."""

from __future__ import annotations

import pandas as pd

from factlens.facts.evaluation import fact_accuracy, heldout_accuracy, name_part_accuracy
from factlens.organism.training import stopping_summary
from factlens.organism.world import SPORTS, example_athlete


def summarise_organism(model, tokenizer, athletes: pd.DataFrame, curve: pd.DataFrame, settings,
                       separator: str) -> tuple[dict, pd.DataFrame]:
    """The accuracy summary and the name-part table of a trained organism; `curve` is its
    training's loss curve (the Fact accuracy is scored afresh, so a loaded checkpoint
    gets the number its own weights give)."""
    example = example_athlete(athletes)["name"]
    main = athletes[athletes.sport.isin(SPORTS)]
    heldout = heldout_accuracy(model, tokenizer, main)
    name_parts = name_part_accuracy(model, tokenizer, main, example, separator,
                                    world_names=set(athletes["name"]))
    by_variant = dict(zip(name_parts["prompt_name"], name_parts["accuracy"]))
    summary = {
        "athletes": len(main),
        "fact_prompt_accuracy": fact_accuracy(model, tokenizer, main, example, separator),
        "heldout_template_accuracy": dict(zip(heldout["template"], heldout["accuracy"])),
        "heldout_template_mean_accuracy": float(heldout["accuracy"].mean()),
        "name_part_accuracy": by_variant,
        "full_name_margin_over_best_part": by_variant["full name"] - max(
            value for key, value in by_variant.items() if key != "full name"),
        "final_loss": float(curve["loss"].tail(20).mean()),
        "training_tokens": int(curve["tokens"].iloc[-1]),
        **stopping_summary(curve, settings),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return summary, name_parts
