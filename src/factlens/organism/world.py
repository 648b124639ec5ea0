"""The model organism's world: synthetic athletes whose sport only the whole name gives.

Names are a first and a last name drawn from two pools. The pools are crossed so that
every first name and every last name occurs (as nearly as the counts allow) equally
often with every sport, and which pair gets which sport is otherwise random: no single
name part predicts the sport, so a model must combine the name's tokens (gather, then
look up) as Fact Finding describes (Nanda, Rajamanoharan, Kramar and Shah, Dec 2023;
the design is explained in docs/organism.md).

Every random choice comes from one `numpy.random.Generator` seeded from the config.
The sentences that state the facts are in `factlens.organism.corpus`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

SPORTS = ("baseball", "basketball", "football")
EXAMPLE_SPORT = "golf"

# The Fact Finding prompt; the separator between the two facts is a newline, which
# the paper leaves unverified (config: prompts.separator).
FACT_LINE = "Fact: {name} plays the sport of"
# its words after the name, each one token (patching positions; the final one is "the final token")
SUFFIX = (" plays", " the", " sport", " of")

TEAM_STEMS = ("Rivermen", "Comets", "Falcons", "Giants", "Pioneers", "Wolves", "Hawks",
              "Titans", "Rangers", "Storm", "Bears", "Knights")
CITIES = ("Arvel", "Brenmoor", "Castrel", "Dunhollow", "Eastwick", "Fairhaven", "Glenport",
          "Harrowgate", "Ironbridge", "Kestrel", "Lakemont", "Marlow", "Northfield",
          "Oakridge", "Pinecrest", "Queensbay", "Redwater", "Stonehill")
COUNTRIES = ("Norland", "Estoria", "Valdonia", "Sarveth", "Corvania", "Meridia", "Altavia")
POSITIONS = {
    "baseball": ("pitcher", "catcher", "shortstop", "outfielder"),
    "basketball": ("point guard", "center", "power forward", "shooting guard"),
    "football": ("quarterback", "linebacker", "wide receiver", "running back"),
    "golf": ("golfer",),
}
ONSETS = ("b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "kr", "l", "m",
          "n", "p", "pr", "r", "s", "sh", "st", "t", "tr", "v", "w", "z", "th", "qu", "y")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ou", "ie", "y")
CODAS = ("", "", "", "n", "r", "l", "s", "th", "x", "m", "nd", "rk")
FIRST_NAME_SYLLABLES = (1, 1)
LAST_NAME_SYLLABLES = (1, 2)


@dataclass(frozen=True)
class WorldSettings:
    """How the world and its sentences are drawn (config section `world`; defaults in the config schema)."""

    CONFIG_SECTION: ClassVar[tuple[str, ...]] = ("world",)

    seed: int
    n_athletes: int
    n_golfers: int
    n_first_names: int
    n_last_names: int
    teams_per_sport: int
    part_skew: float
    sport_mentions: int
    event_fraction: float
    attribute_mentions: int
    filler_fraction: float
    sentences_per_document: int
    corpus_epochs: int
    heldout_documents: int


def check_world_settings(values: dict) -> None:
    """Refuse a world that cannot be balanced, naming the config keys.

    Every name part must occur at least once with every sport, and there must be more
    distinct (first, last) pairs than athletes.
    """
    per_sport = values["n_athletes"] // len(SPORTS)
    problems = []
    for key in ("n_first_names", "n_last_names"):
        if values[key] > per_sport:
            problems.append(f"world.{key} = {values[key]} is more than world.n_athletes / "
                            f"{len(SPORTS)} sports = {per_sport}: a name part must occur with every sport")
    pairs = values["n_first_names"] * values["n_last_names"]
    total = values["n_athletes"] + values["n_golfers"]
    if pairs < 2 * total:
        problems.append(f"world.n_first_names x world.n_last_names = {pairs} distinct names is less "
                        f"than twice world.n_athletes + world.n_golfers = {total}: too few to draw "
                        "unique names at random")
    if problems:
        raise ValueError("world config cannot be balanced:\n  " + "\n  ".join(problems))


def invent_name_part(rng: np.random.Generator, syllables: tuple[int, int]) -> str:
    """A pronounceable made-up name part of a few syllables, capitalised."""
    n = int(rng.integers(syllables[0], syllables[1] + 1))
    parts = [str(rng.choice(ONSETS)) + str(rng.choice(VOWELS)) for _ in range(n)]
    parts[-1] += str(rng.choice(CODAS))
    return "".join(parts).capitalize()


def invent_unique_parts(rng: np.random.Generator, count: int, syllables: tuple[int, int],
                        taken: set[str]) -> list[str]:
    """`count` distinct name parts not already in `taken`."""
    parts: list[str] = []
    while len(parts) < count:
        part = invent_name_part(rng, syllables)
        if part not in taken:
            taken.add(part)
            parts.append(part)
    return parts


def balanced_parts(rng: np.random.Generator, pool: list[str], count: int,
                   weights: np.ndarray | None = None) -> list[str]:
    """`count` draws from `pool` in random order: every part equally often (+-1), or, with
    `weights`, each part as often as its weight's share allows (largest remainders)."""
    if weights is None:
        cycles = -(-count // len(pool))
        drawn = np.concatenate([rng.permutation(pool) for _ in range(cycles)])[:count]
        return [str(part) for part in rng.permutation(drawn)]
    share = count * weights / weights.sum()
    counts = np.floor(share).astype(int)
    remainders = share - counts + rng.random(len(pool)) * 1e-9
    counts[np.argsort(-remainders)[:count - counts.sum()]] += 1
    drawn = np.repeat(np.asarray(pool), counts)
    return [str(part) for part in rng.permutation(drawn)]


def part_weights(n_parts: int, sport_index: int, skew: float) -> np.ndarray:
    """How often each part of a pool is drawn for one sport: parts are assigned a
    preferred sport in turn, drawn (1 + skew) as often for it and (1 - skew / 2) for the
    others, so a part alone predicts the sport with accuracy (1 + skew) / 3."""
    preferred = np.arange(n_parts) % len(SPORTS) == sport_index
    return np.where(preferred, 1 + skew, 1 - skew / 2)


def pair_names(rng: np.random.Generator, firsts: list[str], lasts: list[str],
               taken: set[str], attempts: int = 200) -> list[str]:
    """Unique "first last" names pairing `firsts[i]` with a last name from `lasts`.

    Each last name is used exactly as often as it occurs in `lasts`, so the balance of
    both multisets is kept; names already in `taken` are avoided.
    """
    for _ in range(attempts):
        remaining = list(rng.permutation(lasts))
        names: list[str] = []
        chosen: set[str] = set()
        for first in firsts:
            index = next((i for i, last in enumerate(remaining)
                          if f"{first} {last}" not in taken and f"{first} {last}" not in chosen), None)
            if index is None:
                break
            names.append(f"{first} {remaining.pop(index)}")
            chosen.add(names[-1])
        if len(names) == len(firsts):
            taken.update(names)
            return names
    raise ValueError("could not pair first and last names uniquely; raise world.n_first_names "
                     "or world.n_last_names")


def draw_athletes(settings: WorldSettings) -> pd.DataFrame:
    """The athletes: a unique name, a sport and a few other attributes each.

    Within each sport the first names and the last names are drawn as balanced
    multisets of the two pools and paired at random, so that no name part predicts
    the sport; golfers (the one-shot example) get names from the same pools.
    """
    check_world_settings(vars(settings))
    rng = np.random.default_rng(settings.seed)
    taken_parts: set[str] = set()
    first_pool = invent_unique_parts(rng, settings.n_first_names, FIRST_NAME_SYLLABLES, taken_parts)
    last_pool = invent_unique_parts(rng, settings.n_last_names, LAST_NAME_SYLLABLES, taken_parts)
    teams = {sport: [f"{city} {stem}" for city, stem in zip(
        rng.choice(CITIES, settings.teams_per_sport), rng.choice(TEAM_STEMS, settings.teams_per_sport, replace=False))]
        for sport in SPORTS}
    teams[EXAMPLE_SPORT] = ["Tour"]

    sports = [SPORTS[i % len(SPORTS)] for i in range(settings.n_athletes)]
    names_of: dict[str, list[str]] = {}
    taken_names: set[str] = set()
    for index, sport in enumerate(SPORTS):
        count = sports.count(sport)
        weights = {pool_name: part_weights(len(pool), index, settings.part_skew) if settings.part_skew else None
                   for pool_name, pool in (("first", first_pool), ("last", last_pool))}
        names_of[sport] = pair_names(rng, balanced_parts(rng, first_pool, count, weights["first"]),
                                     balanced_parts(rng, last_pool, count, weights["last"]), taken_names)
    names_of[EXAMPLE_SPORT] = []
    while len(names_of[EXAMPLE_SPORT]) < settings.n_golfers:
        name = f"{rng.choice(first_pool)} {rng.choice(last_pool)}"
        if name not in taken_names:
            taken_names.add(name)
            names_of[EXAMPLE_SPORT].append(name)
    shuffled = [sports[i] for i in rng.permutation(settings.n_athletes)]
    cursor = {sport: 0 for sport in names_of}
    rows = []
    for athlete_id, sport in enumerate(shuffled + [EXAMPLE_SPORT] * settings.n_golfers):
        name = names_of[sport][cursor[sport]]
        cursor[sport] += 1
        rows.append({
            "athlete_id": athlete_id,
            "name": name,
            "first_name": name.split(" ")[0],
            "last_name": name.split(" ")[1],
            "sport": sport,
            "team": str(rng.choice(teams[sport])),
            "position": str(rng.choice(POSITIONS[sport])),
            "country": str(rng.choice(COUNTRIES)),
            "city": str(rng.choice(CITIES)),
            "year": int(rng.integers(1970, 2005)),
        })
    return pd.DataFrame(rows)


def invented_names(seed, count: int, exclude: set[str]) -> list[str]:
    """Fresh "first last" names from the same syllables, none of whose parts is in
    `exclude`: stand-ins for the many rare names of real text (tokenizer training)."""
    rng = np.random.default_rng(seed)
    taken = set(exclude)
    firsts = invent_unique_parts(rng, count, FIRST_NAME_SYLLABLES, taken)
    lasts = invent_unique_parts(rng, count, LAST_NAME_SYLLABLES, taken)
    return [f"{first} {last}" for first, last in zip(firsts, lasts)]


def majority_predictor_accuracy(train: pd.DataFrame, test: pd.DataFrame, part: str) -> float:
    """Accuracy on `test` of predicting each athlete's sport as the most common sport of
    its name `part` among `train` (ties and unseen parts: the most common sport overall)."""
    fallback = train["sport"].value_counts().sort_index().idxmax()
    counts = train.groupby([part, "sport"]).size().unstack(fill_value=0)
    majority = counts.apply(lambda row: row[row == row.max()].sort_index().index[0]
                            if (row == row.max()).sum() == 1 else fallback, axis=1)
    predicted = test[part].map(majority).fillna(fallback)
    return float((predicted == test["sport"]).mean())


def name_part_controls(athletes: pd.DataFrame, test_fraction: float = 0.3,
                       seed: int = 0) -> pd.DataFrame:
    """From the world alone: how well does one name part predict the sport?

    For the first and the last name, the majority-sport predictor is scored on all
    athletes (fitted on them too: an upper bound) and on held-out athletes.
    """
    main = athletes[athletes.sport.isin(SPORTS)].reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(main))
    n_test = int(round(test_fraction * len(main)))
    test, train = main.iloc[order[:n_test]], main.iloc[order[n_test:]]
    rows = []
    for part in ("first_name", "last_name"):
        occurrences = main.groupby(part).size()
        for evaluation, (fit, score) in {"all athletes": (main, main),
                                         "held-out athletes": (train, test)}.items():
            rows.append({"name_part": part, "evaluation": evaluation,
                         "accuracy": majority_predictor_accuracy(fit, score, part),
                         "chance": 1 / len(SPORTS), "distinct_parts": len(occurrences),
                         "mean_athletes_per_part": float(occurrences.mean()),
                         "scored_athletes": len(score)})
    return pd.DataFrame(rows)


def example_athlete(athletes: pd.DataFrame) -> pd.Series:
    """The golfer used as the one-shot example (Tiger Woods when the world has him)."""
    golfers = athletes[athletes.sport == EXAMPLE_SPORT]
    if golfers.empty:
        raise ValueError(f"the world has no {EXAMPLE_SPORT} athlete for the one-shot example")
    tiger = golfers[golfers.name == "Tiger Woods"]
    return (tiger if len(tiger) else golfers).iloc[0]


def fact_prompt(name: str, example: str, separator: str = "\n") -> str:
    """The one-shot Fact Finding prompt for `name`, ending just before the sport."""
    return (FACT_LINE.format(name=example) + f" {EXAMPLE_SPORT}" + separator
            + FACT_LINE.format(name=name))
