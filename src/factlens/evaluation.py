"""Does the model know the facts? 3-way sport accuracy on the Fact prompt and on
held-out templates, shared by the organism's training and the prompts stage."""

from __future__ import annotations

import pandas as pd

from factlens.prompts import score_prompts
from factlens.world import HELDOUT_TEMPLATES, SPORTS, fact_prompt, heldout_prompts


def fact_prompts(athletes: pd.DataFrame, example: str, separator: str = "\n") -> list[str]:
    """The one-shot Fact prompt of every athlete, with `example` as the golf example."""
    return [fact_prompt(name, example, separator) for name in athletes["name"]]


def fact_accuracy(model, tokenizer, athletes: pd.DataFrame, example: str,
                  separator: str = "\n") -> float:
    """3-way accuracy on the Fact prompt over `athletes`."""
    _, scores = score_prompts(model, tokenizer, athletes,
                              fact_prompts(athletes, example, separator), SPORTS)
    return float(scores["correct"].mean())


def heldout_accuracy(model, tokenizer, athletes: pd.DataFrame) -> pd.DataFrame:
    """3-way accuracy per held-out template (templates never seen in training)."""
    prompts = heldout_prompts(athletes)
    rows = []
    for template, group in prompts.groupby("template"):
        subset = athletes.set_index("athlete_id").loc[group["athlete_id"]].reset_index()
        _, scores = score_prompts(model, tokenizer, subset, list(group["prompt"]), SPORTS)
        rows.append({"template": HELDOUT_TEMPLATES[template],
                     "accuracy": float(scores["correct"].mean()),
                     "known_fraction": float(scores["kept"].mean())})
    return pd.DataFrame(rows)
