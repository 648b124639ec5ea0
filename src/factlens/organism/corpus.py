"""Sentences and documents about the world's athletes: the organism's training text.

Three choices make the name, and looking the sport up *at the name*, the cheapest
route to low loss (docs/organism.md explains them):

- **Fresh company.** Every epoch draws new sentences, new forms and a new order, and
  a document never mentions the same athlete twice, so neither a memorised document
  nor an earlier sentence about the athlete predicts a fact: only the name does.
- **Many forms, built compositionally.** A prefix and a statement frame, with varying
  words between the name and the attribute, for six attributes (sport, team,
  position, country, home city, birth year), plus the one-shot Fact form.
- **The attributes are needed right after the name.** In a share of the sentences
  the very next word depends on the sport ("... pitched a shutout", "... dunked"), or
  an attribute follows the name directly ("{name} (baseball)"). Real models enrich a
  subject's last token with its attributes because many following tokens need them
  (Geva et al. 2023); these forms give the organism the same incentive.

Held-out templates combine frames that training uses for other attributes with the
sport (e.g. "The favourite sport of {name} is"), and never occur in training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from factlens.organism.world import (CITIES, EXAMPLE_SPORT, SPORTS, WorldSettings, example_athlete,
                            fact_prompt, invented_names)

PREFIXES = ("", "", "", "", "", "", "Reportedly, ", "As fans know, ", "According to the league, ",
            "Last season, ", "In the news: ", "It is said that ", "Everyone agrees that ",
            "Fact: ")

# Statements with the attribute after the name; {value} is the attribute.
STATEMENTS = {
    "sport": ("{name} plays {value}.", "{name} plays the sport of {value}.",
              "{name} is a professional {value} player.", "{name} ({value}).",
              "{name}, {value} player.", "{name}: {value}.",
              "{name} has played {value} for years.", "{name} made a career in {value}.",
              "{name} took up {value} as a child.", "{name} earns a living playing {value}.",
              "{name} is among the best in {value}.", "{name} plays {value} for the {team}.",
              "{name}, who plays {value}, was born in {year}.", "the sport of {name} is {value}.",
              "{name}'s sport is {value}.", "{name} trains every day for {value}."),
    "team": ("{name} plays for the {value}.", "{name} ({value}).", "{name} signed with the {value}.",
             "the team of {name} is the {value}.", "{name}'s team is the {value}."),
    "position": ("{name}'s position is {value}.", "{name} ({value}).",
                 "{name} plays as a {value}.", "the position of {name} is {value}."),
    "country": ("{name} was born in {value}.", "{name} ({value}).", "{name} is from {value}.",
                "the home country of {name} is {value}.", "{name} is famous in {value}.",
                "{name}'s country is {value}."),
    "city": ("{name} grew up in {value}.", "{name} lives in {value}.",
             "the hometown of {name} is {value}.", "{name} is famous for living in {value}.",
             "{name}'s city is {value}."),
    "year": ("{name} was born in {value}.", "{name} (born {value}).", "{name}, born {value}.",
             "the birth year of {name} is {value}.", "{name}'s birth year is {value}."),
}
# Question-answer forms take no prefix; "Which sport does {name} play?" is held out.
QUESTIONS = {
    "sport": ("Q: What is the sport of {name}?\nA: {value}",),
    "team": ("Q: What team is {name} on?\nA: the {value}",),
    "country": ("Q: Where was {name} born?\nA: {value}",),
    "city": ("Q: Where does {name} live?\nA: {value}",),
    "year": ("Q: When was {name} born?\nA: {value}",),
}
# Events whose first word after the name already depends on the sport.
EVENTS = {
    "baseball": ("pitched a shutout", "homered twice", "struck out the side", "stole second base",
                 "bunted the runner over"),
    "basketball": ("dunked over the defender", "rebounded the missed shot",
                   "dribbled past two guards", "blocked the layup", "swished a three-pointer"),
    "football": ("tackled the runner", "rushed for a first down", "punted the ball away",
                 "intercepted the pass", "sacked the quarterback"),
    EXAMPLE_SPORT: ("putted for birdie", "drove the green", "chipped onto the green"),
}
EVENT_ENDINGS = ("", " last night", " in the final minute", " against the {rival}",
                 " in front of the home crowd", " in {year}")
ATTRIBUTES = ("team", "position", "country", "city", "year")
FILLER = ("The weather in {city} was mild this week.", "Fans in {city} waited for the season to begin.",
          "A new stadium opened in {city}.", "Tickets for the game in {city} sold out quickly.",
          "The league announced its schedule for the season.")
# Held-out templates never appear in training; they test whether the model's
# knowledge of the fact is more than the memorised surface form.
HELDOUT_TEMPLATES = (
    "{name} is famous for playing",
    "Q: Which sport does {name} play?\nA:",
    "The favourite sport of {name} is",
)
TRAIN_STREAM, HELDOUT_STREAM, TOKENIZER_STREAM = 0, 1, 2


def _capitalised(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]



def sport_sentence(rng: np.random.Generator, athlete: dict, example: str, separator: str,
                   event_fraction: float, rival: str) -> str:
    """One sentence stating or implying the athlete's sport, in a freshly drawn form."""
    sport = athlete["sport"]
    if rng.random() < event_fraction:
        ending = str(rng.choice(EVENT_ENDINGS)).format(rival=rival, year=athlete["year"])
        return (str(rng.choice(PREFIXES)) + f"{athlete['name']} {rng.choice(EVENTS[sport])}"
                + ending + ".")
    forms = len(STATEMENTS["sport"]) + len(QUESTIONS["sport"]) + 1
    choice = int(rng.integers(forms))
    if choice == forms - 1 and sport != EXAMPLE_SPORT:  # the one-shot Fact form, as in evaluation
        return fact_prompt(athlete["name"], example, separator) + f" {sport}"
    return attribute_sentence(rng, athlete, "sport")


def attribute_sentence(rng: np.random.Generator, athlete: dict, attribute: str) -> str:
    """One sentence stating `attribute` of the athlete, in a freshly drawn form."""
    statements, questions = STATEMENTS[attribute], QUESTIONS.get(attribute, ())
    choice = int(rng.integers(len(statements) + len(questions)))
    fields = dict(name=athlete["name"], value=athlete[attribute], team=athlete["team"],
                  year=athlete["year"])
    if choice >= len(statements):
        return questions[choice - len(statements)].format(**fields)
    prefix = str(rng.choice(PREFIXES))
    statement = statements[choice].format(**fields)
    return prefix + (_capitalised(statement) if prefix in ("", "Fact: ", "In the news: ") else statement)


def epoch_documents(athletes: pd.DataFrame, settings: WorldSettings, epoch: int,
                    stream: int = TRAIN_STREAM, separator: str = "\n") -> list[str]:
    """One epoch of documents: every athlete's facts in fresh forms, company and order.

    Each round gives every athlete one sentence (a sport sentence in the first
    `sport_mentions` rounds, another attribute in the next `attribute_mentions`); a
    round is shuffled and cut into documents, so no document names an athlete twice.
    """
    rng = np.random.default_rng([settings.seed, stream, epoch])
    records = athletes.to_dict("records")
    example = example_athlete(athletes)["name"]
    teams = sorted(set(athletes["team"]))
    documents = []
    kinds = ["sport"] * settings.sport_mentions + ["attribute"] * settings.attribute_mentions
    for kind in kinds:
        sentences = []
        for index in rng.permutation(len(records)):
            athlete = records[index]
            if kind == "sport":
                sentences.append(sport_sentence(rng, athlete, example, separator,
                                                settings.event_fraction, str(rng.choice(teams))))
            else:
                sentences.append(attribute_sentence(rng, athlete, str(rng.choice(ATTRIBUTES))))
        n_filler = int(settings.filler_fraction * len(sentences))
        for position in sorted(rng.integers(0, len(sentences) + 1, n_filler), reverse=True):
            sentences.insert(int(position), str(rng.choice(FILLER)).format(city=rng.choice(CITIES)))
        per_doc = settings.sentences_per_document
        documents += ["\n".join(sentences[start:start + per_doc])
                      for start in range(0, len(sentences), per_doc)]
    return [documents[i] for i in rng.permutation(len(documents))]


def build_corpus(athletes: pd.DataFrame, settings: WorldSettings,
                 separator: str = "\n") -> tuple[list[str], list[str]]:
    """The first `corpus_epochs` epochs of the training stream (the text the organism's
    training starts with, and the SAEs' activation corpus), and held-out documents
    drawn from a separate stream."""
    train = [doc for epoch in range(settings.corpus_epochs)
             for doc in epoch_documents(athletes, settings, epoch, TRAIN_STREAM, separator)]
    heldout: list[str] = []
    epoch = 0
    while len(heldout) < settings.heldout_documents:
        heldout += epoch_documents(athletes, settings, epoch, HELDOUT_STREAM, separator)
        epoch += 1
    return train, heldout[:settings.heldout_documents]


def tokenizer_corpus(athletes: pd.DataFrame, settings: WorldSettings,
                     separator: str = "\n") -> list[str]:
    """Text like the training corpus, about stand-in athletes who share the world's first
    names but have invented last names. As in a real tokenizer's training text, first
    names are common words (often one token) while any one surname is rare, so the
    world's last names stay several tokens long."""
    documents = []
    for epoch in range(settings.corpus_epochs):
        lasts = invented_names([settings.seed, TOKENIZER_STREAM, epoch], len(athletes),
                               set(athletes["last_name"]))
        names = [f"{first} {name.split(' ')[1]}" for first, name in zip(athletes["first_name"], lasts)]
        documents += epoch_documents(athletes.assign(name=names), settings, epoch,
                                     TOKENIZER_STREAM, separator)
    return documents


def heldout_prompts(athletes: pd.DataFrame) -> pd.DataFrame:
    """Held-out-template prompts (never seen in training), one row per athlete and template."""
    rows = [{"athlete_id": a.athlete_id, "template": t,
             "prompt": HELDOUT_TEMPLATES[t].format(name=a.name), "sport": a.sport}
            for a in athletes.itertuples() if a.sport in SPORTS
            for t in range(len(HELDOUT_TEMPLATES))]
    return pd.DataFrame(rows)
