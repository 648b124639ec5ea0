"""The synthetic world and its corpus: deterministic, balanced, multi-token names."""

import pandas as pd

from conftest import world_settings
from factlens.world import (EXAMPLE_SPORT, HELDOUT_TEMPLATES, SPORTS, build_corpus,
                            draw_athletes, example_athlete, fact_prompt, heldout_prompts)


def test_same_seed_same_world_other_seed_other_world():
    settings = world_settings(n_athletes=60, n_golfers=2)
    first, second = draw_athletes(settings), draw_athletes(settings)
    pd.testing.assert_frame_equal(first, second)
    other = draw_athletes(world_settings(n_athletes=60, n_golfers=2, seed=1))
    assert set(other.name) != set(first.name)


def test_default_world_has_1500_balanced_athletes_plus_golfers():
    athletes = draw_athletes(world_settings())
    counts = athletes.sport.value_counts()
    assert all(counts[s] == 500 for s in SPORTS)
    assert counts[EXAMPLE_SPORT] == 20
    assert athletes.name.is_unique
    # last names are shared, so a name's last token alone cannot give the sport
    assert athletes.name.str.split().str[-1].duplicated().any()
    assert {"team", "position", "country", "year"} <= set(athletes.columns)


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
    assert heldout and all(doc.strip() for doc in heldout)
    assert "\n\n" not in text  # documents are separated by blank lines on disk


def test_corpus_is_deterministic(tiny_world):
    settings, athletes, train, heldout = tiny_world
    assert build_corpus(athletes, settings) == (train, heldout)


def test_heldout_prompts_cover_every_athlete_and_template(tiny_world):
    athletes = tiny_world[1]
    prompts = heldout_prompts(athletes)
    main = athletes[athletes.sport.isin(SPORTS)]
    assert len(prompts) == len(main) * len(HELDOUT_TEMPLATES)
    assert prompts.prompt.str.contains("{name}", regex=False).sum() == 0


def test_other_facts_are_consistent_with_each_athletes_attributes():
    """An athlete's home city, country and team always come out the same (else the
    "other facts" are noise the model cannot learn)."""
    import re

    settings = world_settings(n_athletes=60, n_golfers=2, other_facts_per_athlete=6)
    athletes = draw_athletes(settings)
    train, _ = build_corpus(athletes, settings)
    text = "\n".join(train)
    by_name = athletes.set_index("name")
    grew_up = re.findall(r"(?:^|\n|\. )([A-Z][\w' ]+?) grew up in ([^,]+), ([^.]+)\.", text)
    assert len(grew_up) > 20
    for name, city, country in grew_up:
        name = name.split("\n")[-1]
        if name in by_name.index:
            assert (city, country) == (by_name.loc[name, "city"], by_name.loc[name, "country"])
    home = re.findall(r"The (.+?) play their home games in (.+?)\.", text)
    assert len(home) > 10
    for team, city in home:
        if team != "Tour":  # the golfers' "team" has no city
            assert team.startswith(city + " ")
