"""Athlete lists for real models: a CSV of `athlete,sport`, checked row by row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from factlens.organism.world import SPORTS

REQUIRED_COLUMNS = ("athlete", "sport")


def load_athletes_csv(path: str | Path, sports: tuple[str, ...] = SPORTS) -> pd.DataFrame:
    """Read and validate an athletes CSV; returns columns athlete_id, name, sport.

    Errors name the offending CSV row (1-based, counting the header as row 1).
    """
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; "
                         f"expected a header with {', '.join(REQUIRED_COLUMNS)}")
    seen: dict[str, int] = {}
    for index, (name, sport) in enumerate(zip(frame["athlete"], frame["sport"])):
        row = index + 2
        if not name.strip():
            raise ValueError(f"{path}: row {row}: empty athlete name")
        if sport.strip() not in sports:
            raise ValueError(f"{path}: row {row}: unknown sport {sport!r} for {name!r}; "
                             f"expected one of {', '.join(sports)}")
        key = name.strip()
        if key in seen:
            raise ValueError(f"{path}: row {row}: duplicate athlete {key!r} "
                             f"(first at row {seen[key]})")
        seen[key] = row
    return pd.DataFrame({"athlete_id": range(len(frame)),
                         "name": frame["athlete"].str.strip(),
                         "sport": frame["sport"].str.strip()})
