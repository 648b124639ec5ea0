"""The synthetic world and its corpus: deterministic, balanced, multi-token names, facts
in fresh company."""

import re

import numpy as np
import pandas as pd
import pytest

from conftest import world_settings
from factlens.organism.corpus import (ATTRIBUTES, EVENTS, HELDOUT_TEMPLATES, build_corpus, epoch_documents,
                             heldout_prompts, tokenizer_corpus)
from factlens.organism.world import (EXAMPLE_SPORT, SPORTS, check_world_settings, draw_athletes,
                            example_athlete, fact_prompt, majority_predictor_accuracy,
                            name_part_controls)


def test_same_seed_same_world_other_seed_other_world():
    settings = world_settings(n_athletes=60, n_golfers=2, n_first_names=10, n_last_names=15)
    first, second = draw_athletes(settings), draw_athletes(settings)
    pd.testing.assert_frame_equal(first, second)
    other = draw_athletes(world_settings(n_athletes=60, n_golfers=2, n_first_names=10,
                                         n_last_names=15, seed=1))
    assert set(other.name) != set(first.name)


def test_default_world_balances_every_name_part_across_sports():
    settings = world_settings()
    athletes = draw_athletes(settings)
    main = athletes[athletes.sport.isin(SPORTS)]
    assert athletes.name.is_unique
    assert (main.sport.value_counts() == settings.n_athletes // 3).all()
    assert (athletes.sport == EXAMPLE_SPORT).sum() == settings.n_golfers
    for part, pool in (("first_name", settings.n_first_names), ("last_name", settings.n_last_names)):
        counts = main.groupby([part, "sport"]).size().unstack(fill_value=0)
        assert len(counts) == pool
        # every part occurs with every sport, as often as the counts allow (+-1)
        assert (counts.max(axis=1) - counts.min(axis=1)).max() <= 1
        assert counts.min().min() >= 1
    assert (athletes.first_name + " " + athletes.last_name).equals(athletes.name)
    assert {"team", "position", "country", "city", "year"} <= set(athletes.columns)


def test_name_part_controls_are_near_chance_on_the_world_but_not_on_a_leaky_one():
    athletes = draw_athletes(world_settings())
    controls = name_part_controls(athletes)
    assert set(controls.name_part) == {"first_name", "last_name"}
    assert (controls.accuracy <= 0.40).all()
    # negative control: a world whose last name gives the sport away is caught
    leaky = athletes[athletes.sport.isin(SPORTS)].copy()
    leaky["last_name"] = leaky["sport"] + leaky["athlete_id"].mod(5).astype(str)
    assert (name_part_controls(leaky).query("name_part == 'last_name'").accuracy == 1.0).all()


def test_majority_predictor_against_a_hand_count():
    train = pd.DataFrame({"part": ["a", "a", "a", "b", "b"],
                          "sport": ["baseball", "baseball", "football", "football", "basketball"]})
    test = pd.DataFrame({"part": ["a", "b", "c"], "sport": ["baseball", "football", "football"]})
    # a -> baseball (2 of 3); b is a tie and c unseen -> the overall majority
    # (baseball 2, football 2 -> alphabetical first: baseball)
    assert majority_predictor_accuracy(train, test, "part") == pytest.approx(1 / 3)


@pytest.mark.parametrize("overrides, keys", [
    (dict(n_athletes=30, n_first_names=20), ["world.n_first_names"]),
    (dict(n_athletes=600, n_first_names=5, n_last_names=6), ["world.n_first_names x world.n_last_names"]),
    (dict(n_athletes=30, n_first_names=11, n_last_names=12), ["world.n_first_names", "world.n_last_names"]),
])
def test_a_world_that_cannot_be_balanced_names_its_keys(overrides, keys):
    with pytest.raises(ValueError, match="cannot be balanced") as error:
        check_world_settings(vars(world_settings(**overrides)))
    for key in keys:
        assert key in str(error.value)


def test_fact_prompt_is_the_papers_one_shot_format():
    assert (fact_prompt("Michael Jordan", "Tiger Woods")
            == "Fact: Tiger Woods plays the sport of golf\nFact: Michael Jordan plays the sport of")


def test_example_prefers_tiger_woods_else_first_golfer(tiny_world):
    athletes = tiny_world[1]
    assert example_athlete(athletes)["sport"] == EXAMPLE_SPORT
    with_tiger = pd.concat([athletes, pd.DataFrame([{"athlete_id": 999, "name": "Tiger Woods",
                                                     "sport": "golf"}])])
    assert example_athlete(with_tiger)["name"] == "Tiger Woods"


def test_corpus_states_every_sport_and_never_uses_heldout_templates(tiny_world):
    _, athletes, train, heldout = tiny_world
    text = "\n".join(train)
    for athlete in athletes.itertuples():
        assert athlete.name in text
    for template in HELDOUT_TEMPLATES:
        stem = max(template.split("{name}"), key=len).strip()
        assert stem not in text
    assert "favourite" not in text and "Which sport" not in text
    assert heldout and all(doc.strip() for doc in heldout)
    assert "\n\n" not in text  # documents are separated by blank lines on disk


def test_every_epoch_is_fresh_and_no_document_names_an_athlete_twice(tiny_world):
    settings, athletes = tiny_world[0], tiny_world[1]
    first, second = epoch_documents(athletes, settings, 0), epoch_documents(athletes, settings, 1)
    assert first == epoch_documents(athletes, settings, 0)  # deterministic
    assert len(set(first) & set(second)) == 0  # no document repeats across epochs
    pattern = re.compile("|".join(re.escape(name) for name in sorted(athletes.name, key=len, reverse=True)))
    for document in first + second:
        names = pattern.findall(document.replace(example_athlete(athletes)["name"] + " plays the sport of golf", ""))
        assert len(names) == len(set(names)), document


def test_every_athlete_gets_its_sport_and_other_attributes_each_epoch(tiny_world):
    settings, athletes = tiny_world[0], tiny_world[1]
    text = "\n".join(epoch_documents(athletes, settings, 3))
    for athlete in athletes.itertuples():
        lines = [line for line in text.split("\n") if athlete.name in line]
        assert len(lines) >= settings.sport_mentions + settings.attribute_mentions - 1
        sport_words = (athlete.sport, *EVENTS[athlete.sport])
        assert any(any(word in line for word in sport_words) for line in lines)


def test_sentences_state_each_athletes_own_attributes():
    """A stated city, country, year or team is always the athlete's own (else the other
    facts are noise the model cannot learn)."""
    settings = world_settings(n_athletes=60, n_golfers=2, n_first_names=10, n_last_names=15,
                              attribute_mentions=6)
    athletes = draw_athletes(settings)
    text = "\n".join(epoch_documents(athletes, settings, 0))
    by_name = athletes.set_index("name")
    checked = 0
    for name, row in by_name.iterrows():
        for line in (line for line in text.split("\n") if name in line):
            for attribute in ("city", "country", "team"):
                others = set(athletes[attribute]) - {row[attribute]}
                mentioned = [value for value in others if re.search(rf"\b{re.escape(value)}\b", line)]
                if attribute == "city":  # a team's name starts with its city
                    mentioned = [value for value in mentioned if f"{value} " not in row["team"]]
                assert not mentioned or "against the" in line, (name, line)
                checked += 1
    assert checked > 100
    assert set(ATTRIBUTES) == {"team", "position", "country", "city", "year"}


def test_tokenizer_corpus_keeps_first_names_but_never_the_worlds_last_names(tiny_world):
    settings, athletes = tiny_world[0], tiny_world[1]
    text = "\n".join(tokenizer_corpus(athletes, settings))
    assert any(first in text for first in athletes.first_name)
    assert not any(re.search(rf"\b{last}\b", text) for last in athletes.last_name)


def test_heldout_prompts_cover_every_athlete_and_template(tiny_world):
    athletes = tiny_world[1]
    prompts = heldout_prompts(athletes)
    main = athletes[athletes.sport.isin(SPORTS)]
    assert len(prompts) == len(main) * len(HELDOUT_TEMPLATES)
    assert prompts.prompt.str.contains("{name}", regex=False).sum() == 0


def test_corpus_is_deterministic(tiny_world):
    settings, athletes, train, heldout = tiny_world
    assert build_corpus(athletes, settings) == (train, heldout)
    assert np.mean([len(doc.split("\n")) for doc in train]) > 2


def test_part_skew_gives_each_part_the_stated_lean():
    balanced = name_part_controls(draw_athletes(world_settings()))
    skewed = name_part_controls(draw_athletes(world_settings(part_skew=0.15)))
    in_sample = lambda table: table[table.evaluation == "all athletes"].set_index("name_part")["accuracy"]  # noqa: E731
    # (1 + 0.15) / 3 = 38.3%, up to the rounding of whole counts
    assert (in_sample(skewed) > in_sample(balanced)).all()
    assert ((in_sample(skewed) - 1.15 / 3).abs() < 0.025).all()
