"""The model organism's world: synthetic athletes and a corpus of facts about them.

Every random choice comes from one `numpy.random.Generator` seeded from the config,
so the same settings always give the same athletes, sentences and split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPORTS = ("baseball", "basketball", "football")
EXAMPLE_SPORT = "golf"

# The Fact Finding prompt (PAPERS.md §1); the separator between the two facts is a
# newline, which the paper leaves unverified (config: prompts.separator).
FACT_LINE = "Fact: {name} plays the sport of"

# Training templates: every athlete's sport is stated several ways, in mixed order.
SPORT_TEMPLATES = (
    "Fact: {name} plays the sport of {sport}",
    "{name} plays {sport}.",
    "{name} is a professional {sport} player.",
    "Playing {position}, {name} plays {sport} for the {team}.",
    "The {team} signed {name} to play {sport}.",
    "Known for {sport}, {name} was born in {country} in {year}.",
    "In {sport}, {name} is one of the best.",
    "Every week {name} trains hard at {sport}.",
    "{name}: {sport}.",
    "{name} ({sport})",
    "Sport of {name}: {sport}.",
    "{name}, {sport} player.",
)
OTHER_TEMPLATES = (
    "{name} plays for the {team}.",
    "{name} was born in {country}.",
    "{name} was born in {year}.",
    "{name}'s position is {position}.",
    "The {team} play their home games in {team_city}.",
    "{name} grew up in {city}, {country}.",
)
FILLER_TEMPLATES = (
    "The weather in {city} was mild this week.",
    "Fans in {city} waited for the season to begin.",
    "A new stadium opened in {city}.",
    "Tickets for the game in {city} sold out quickly.",
    "The league announced its schedule for {year}.",
)
# Held-out templates never appear in training; they test whether the model's
# knowledge of the fact is more than the memorised surface form.
HELDOUT_TEMPLATES = (
    "{name} is famous for playing",
    "Q: Which sport does {name} play?\nA:",
    "The favourite sport of {name} is",
)

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


@dataclass(frozen=True)
class WorldSettings:
    """How the synthetic world is drawn (config section `world`; defaults in the config schema)."""

    seed: int
    n_athletes: int
    n_golfers: int
    n_first_names: int
    n_last_names: int
    teams_per_sport: int
    mentions_per_athlete: int
    other_facts_per_athlete: int
    filler_fraction: float
    sentences_per_document: int
    heldout_documents: int


def invent_name_part(rng: np.random.Generator, min_syllables: int, max_syllables: int) -> str:
    """A pronounceable made-up name part of a few syllables, capitalised."""
    n = int(rng.integers(min_syllables, max_syllables + 1))
    syllables = [str(rng.choice(ONSETS)) + str(rng.choice(VOWELS)) for _ in range(n)]
    syllables[-1] += str(rng.choice(CODAS))
    return "".join(syllables).capitalize()


def invent_unique_parts(rng: np.random.Generator, count: int, min_syl: int, max_syl: int,
                        taken: set[str]) -> list[str]:
    """`count` distinct name parts not already in `taken`."""
    parts: list[str] = []
    while len(parts) < count:
        part = invent_name_part(rng, min_syl, max_syl)
        if part not in taken:
            taken.add(part)
            parts.append(part)
    return parts


def draw_athletes(settings: WorldSettings) -> pd.DataFrame:
    """The athletes: a unique name, a sport and a few other attributes each.

    Last names are shared by a few athletes (of any sport), so the sport can only be
    looked up from the whole multi-token name, as in the Fact Finding setting.
    """
    rng = np.random.default_rng(settings.seed)
    taken: set[str] = set()
    firsts = invent_unique_parts(rng, settings.n_first_names, 1, 2, taken)
    lasts = invent_unique_parts(rng, settings.n_last_names, 1, 3, taken)
    teams = {sport: [f"{city} {stem}" for city, stem in zip(
        rng.choice(CITIES, settings.teams_per_sport), rng.choice(TEAM_STEMS, settings.teams_per_sport, replace=False))]
        for sport in (*SPORTS, EXAMPLE_SPORT)}
    teams[EXAMPLE_SPORT] = ["Tour"]

    total = settings.n_athletes + settings.n_golfers
    sports = [SPORTS[i % len(SPORTS)] for i in range(settings.n_athletes)]
    sports = list(rng.permutation(sports)) + [EXAMPLE_SPORT] * settings.n_golfers
    names: set[str] = set()
    rows = []
    for athlete_id, sport in enumerate(sports):
        while True:
            name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            if name not in names:
                break
        names.add(name)
        rows.append({
            "athlete_id": athlete_id,
            "name": name,
            "sport": sport,
            "team": str(rng.choice(teams[sport])),
            "position": str(rng.choice(POSITIONS[sport])),
            "country": str(rng.choice(COUNTRIES)),
            "city": str(rng.choice(CITIES)),
            "year": int(rng.integers(1970, 2005)),
        })
    assert len(rows) == total
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


def _fill(template: str, athlete: dict, city: str | None = None) -> str:
    """A sentence about `athlete`: its own home city and its team's city, unless `city`
    (a filler sentence's random city) is given."""
    team_city = athlete["team"].rsplit(" ", 1)[0] if " " in athlete["team"] else athlete["city"]
    return template.format(name=athlete["name"], sport=athlete["sport"], team=athlete["team"],
                           position=athlete["position"], country=athlete["country"],
                           city=city or athlete["city"], team_city=team_city, year=athlete["year"])


def _sentences(athletes: pd.DataFrame, settings: WorldSettings, rng: np.random.Generator,
               separator: str) -> list[str]:
    example = example_athlete(athletes)["name"]
    records = athletes.to_dict("records")
    sentences = []
    for athlete in records:
        chosen = rng.choice(len(SPORT_TEMPLATES), settings.mentions_per_athlete,
                            replace=settings.mentions_per_athlete > len(SPORT_TEMPLATES))
        for index in chosen:
            if index == 0 and athlete["sport"] != EXAMPLE_SPORT:
                # The Fact template also appears in its one-shot form, as in evaluation.
                sentences.append(fact_prompt(athlete["name"], example, separator)
                                 + f" {athlete['sport']}")
            else:
                sentences.append(_fill(SPORT_TEMPLATES[index], athlete))
        for index in rng.choice(len(OTHER_TEMPLATES), settings.other_facts_per_athlete):
            sentences.append(_fill(OTHER_TEMPLATES[index], athlete))
    n_filler = int(settings.filler_fraction * len(sentences))
    for index in rng.choice(len(FILLER_TEMPLATES), n_filler):
        sentences.append(_fill(FILLER_TEMPLATES[index], records[0], city=str(rng.choice(CITIES))))
    return sentences


def build_corpus(athletes: pd.DataFrame, settings: WorldSettings,
                 separator: str = "\n") -> tuple[list[str], list[str]]:
    """Training documents and held-out documents (same world, fresh sentences and order).

    Each document is a few sentences in random order, one per line.
    """
    rng = np.random.default_rng(settings.seed + 1)
    per_doc = settings.sentences_per_document
    sentences = _sentences(athletes, settings, rng, separator)
    order = rng.permutation(len(sentences))
    train = ["\n".join(sentences[i] for i in order[start:start + per_doc])
             for start in range(0, len(order), per_doc)]

    heldout_rng = np.random.default_rng(settings.seed + 2)
    heldout_sentences = _sentences(athletes, settings, heldout_rng, separator)
    picks = heldout_rng.choice(len(heldout_sentences), (settings.heldout_documents, per_doc))
    heldout = ["\n".join(heldout_sentences[i] for i in row) for row in picks]
    return train, heldout


def heldout_prompts(athletes: pd.DataFrame) -> pd.DataFrame:
    """Held-out-template prompts (never seen in training), one row per athlete and template."""
    rows = [{"athlete_id": a.athlete_id, "template": t,
             "prompt": HELDOUT_TEMPLATES[t].format(name=a.name),
             "sport": a.sport}
            for a in athletes.itertuples() if a.sport in SPORTS
            for t in range(len(HELDOUT_TEMPLATES))]
    return pd.DataFrame(rows)
