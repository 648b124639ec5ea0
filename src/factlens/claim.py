"""A published claim as one run checks it: its verdict rule, the table behind it and
its headline number; and how the report prints numbers. Each paper's claims and
published numbers live with that paper's code (`facts/claims.py`, `sae/claims.py`,
`illusion/claims.py`, `attribution/claims.py`); the report collects them
(`pipeline/report.py`). Published numbers and their sources: docs/references.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Claim:
    """One published claim as checked on this run."""

    key: str
    title: str
    source: str
    table: pd.DataFrame
    replicated: bool
    summary: str
    rule: str
    figures: list[str] = field(default_factory=list)
    testable: bool = True  # False: this run has no site where the rule's test can be made
    metric: str = ""  # the claim's headline number, compared across seeds
    value: float = np.nan
    # the headline's bootstrap 95% interval, where the claim's table has one
    value_low: float = np.nan
    value_high: float = np.nan
    # the rule's line on the headline number and the side of it a replication lies on
    # ('above': value >= line, 'below': value <= line; NaN/'' when no fixed line decides)
    line: float = np.nan
    passes: str = ""

    @property
    def verdict(self) -> str:
        """'yes', 'no' or 'not testable here'."""
        return "not testable here" if not self.testable else "yes" if self.replicated else "no"


def percent(value: float) -> str:
    return "-" if pd.isna(value) else f"{100 * value:.1f}%"


def with_interval(row: pd.Series, column: str | None) -> str:
    """'153.4% [148.0%, 158.9%]': a percentage with its bootstrap 95% interval, if known."""
    if column is None:
        return "-"
    low, high = row.get(f"{column}_low", np.nan), row.get(f"{column}_high", np.nan)
    return percent(row[column]) + ("" if pd.isna(low) else f" [{percent(low)}, {percent(high)}]")


def number(value: float, digits: int = 3) -> str:
    return "-" if pd.isna(value) else f"{value:.{digits}g}"



def interval(low: float, high: float, digits: int = 2) -> str:
    return "-" if pd.isna(low) else f"[{number(low, digits)}, {number(high, digits)}]"

