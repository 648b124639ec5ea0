"""Real-athlete CSVs: the shipped list is valid, malformed rows are named."""

import pytest

from conftest import REPO
from factlens.facts.athletes import load_athletes_csv
from factlens.organism.world import SPORTS


def test_shipped_list_has_50_athletes_per_sport():
    athletes = load_athletes_csv(REPO / "data" / "athletes.csv")
    counts = athletes.sport.value_counts()
    assert all(counts[sport] >= 50 for sport in SPORTS)
    assert athletes.name.is_unique
    assert list(athletes.athlete_id) == list(range(len(athletes)))


@pytest.mark.parametrize("text, message", [
    ("name,sport\nBabe Ruth,baseball\n", "missing column(s) athlete"),
    ("athlete\nBabe Ruth\n", "missing column(s) sport"),
    ("athlete,sport\nBabe Ruth,baseball\nTiger Woods,golf\n", "row 3: unknown sport 'golf'"),
    ("athlete,sport\nBabe Ruth,baseball\n ,basketball\n", "row 3: empty athlete name"),
    ("athlete,sport\nBabe Ruth,baseball\nLarry Bird,basketball\nBabe Ruth,baseball\n",
     "row 4: duplicate athlete 'Babe Ruth' (first at row 2)"),
])
def test_malformed_csv_names_the_row(tmp_path, text, message):
    path = tmp_path / "athletes.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        load_athletes_csv(path)
    assert message in str(error.value)
