"""Does the model know the facts? 3-way sport accuracy on the Fact prompt, on held-out
templates, and on prompts with only part of the name, shared by the organism's
training and the prompts stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from factlens.organism.corpus import HELDOUT_TEMPLATES, heldout_prompts
from factlens.facts.prompts import score_prompts
from factlens.organism.world import SPORTS, fact_prompt


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


def name_variants(athletes: pd.DataFrame, seed: int = 0,
                  world_names: set[str] | None = None) -> dict[str, pd.Series]:
    """The names to prompt with for the name-part control: the full name, the first or
    the last name alone, and the last name with another athlete's first name (never a
    name in `world_names`, by default the athletes', so its answer can only come from
    one part)."""
    rng = np.random.default_rng(seed)
    taken = set(athletes["name"]) if world_names is None else world_names
    firsts = sorted(set(athletes["first_name"]))
    swapped = []
    for first, last in zip(athletes["first_name"], athletes["last_name"]):
        candidates = [other for other in firsts if other != first and f"{other} {last}" not in taken]
        if not candidates:
            raise ValueError(f"no first name to swap into {first} {last}: every other pairing is a "
                             "name of the world")
        swapped.append(f"{rng.choice(candidates)} {last}")
    return {"full name": athletes["name"], "first name only": athletes["first_name"],
            "last name only": athletes["last_name"],
            "first name swapped": pd.Series(swapped, index=athletes.index)}


def name_part_accuracy(model, tokenizer, athletes: pd.DataFrame, example: str,
                       separator: str = "\n", seed: int = 0,
                       world_names: set[str] | None = None) -> pd.DataFrame:
    """The model's own name-part control: Fact-prompt accuracy against each athlete's
    sport when the prompt names the athlete in full or by one part only."""
    rows = []
    for variant, names in name_variants(athletes, seed, world_names).items():
        prompted = athletes.assign(name=names.to_numpy())
        _, scores = score_prompts(model, tokenizer, prompted,
                                  fact_prompts(prompted, example, separator), SPORTS)
        rows.append({"prompt_name": variant, "accuracy": float(scores["correct"].mean()),
                     "mean_p_correct": float(scores["p_correct"].mean()),
                     "athletes": len(scores), "chance": 1 / len(SPORTS)})
    return pd.DataFrame(rows)
