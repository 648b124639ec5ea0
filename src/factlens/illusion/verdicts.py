"""The verdict rule of the interpretability-illusion check (Makelov et al. 2024;
docs/references.md §4), its thresholds stated once, and the tables that summarise the
checks of a run. The checks themselves (patching along a direction) are in
`factlens.illusion.checks`.
Verdict rule (also in the report):
- *no effect*: FLDD(v) < 10%.
- *illusory*: v works, the effect needs both parts (v_row alone < half of FLDD(v), and
  v_null alone < a tenth of it), and at least one of the paper's red flags shows the
  pathway is not one the model uses: v_row is dormant (v_null separates the sports at
  least twice as well as v_row), the patch leaves the natural range of v_row for at
  least a quarter of the pairs, or the 1-D patch matches or beats the whole component
  (FLDD(v) >= FLDD(whole) - 5 points).
- *not illusory*: everything else.
At `mlp.hook_post` W_out is the only reader, so v_null alone is 0 by construction:
that part of the rule is an implementation check there, and the test that carries
weight is v_row's. At the residual stream nearly every direction is read (v_null ~ 0),
so a 1-D effect there cannot be illusory in this sense.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_EFFECT = 0.1
MAX_ROW_SHARE = 0.5
MAX_NULL_SHARE = 0.1
DORMANCY_RATIO = 2.0
MAX_OUTSIDE_RANGE = 0.25
MATCH_TOLERANCE = 0.05
FAMILIES = ("DAS", "mean difference", "linear probe", "best neuron", "best SAE latent")


def red_flags(rows: pd.DataFrame, whole_fldd: float) -> dict[str, bool]:
    """The paper's warning signs for one direction's v / v_row / v_null rows (a 1-D patch
    "matches" its whole component only if it has an effect at all)."""
    by_variant = rows.set_index("variant")
    effect = by_variant.loc["v", "fldd"]
    row_separation = np.nan_to_num(by_variant.loc["v_row", "separation"])
    null_separation = np.nan_to_num(by_variant.loc["v_null", "separation"])
    outside = by_variant.loc["v"].get("outside_natural_range", np.nan)
    return {
        "v_row dormant": bool(null_separation >= DORMANCY_RATIO * row_separation
                              and null_separation > 0),
        "outside natural range": bool(np.nan_to_num(outside) >= MAX_OUTSIDE_RANGE),
        "1-D matches whole": bool(effect >= MIN_EFFECT and effect >= whole_fldd - MATCH_TOLERANCE),
    }


def verdict(rows: pd.DataFrame, whole_fldd: float, max_row_share: float = MAX_ROW_SHARE) -> str:
    """Apply the rule in the module docstring to one direction's rows, given the
    whole-component patch's FLDD at the same site and position."""
    fldd = rows.set_index("variant")["fldd"]
    return verdict_from(fldd.get("v"), fldd.get("v_row"), fldd.get("v_null"),
                        red_flags(rows, whole_fldd), max_row_share)


def verdict_from(effect: float, row_effect: float, null_effect: float, flags: dict[str, bool],
                 max_row_share: float = MAX_ROW_SHARE) -> str:
    """The rule on the numbers it reads: FLDD of v, v_row and v_null and the red flags
    (`max_row_share`: the v_row-share line, moved to see how a verdict depends on it)."""
    if not effect >= MIN_EFFECT:
        return "no effect"
    needs_both = (np.nan_to_num(row_effect) < max_row_share * effect
                  and abs(np.nan_to_num(null_effect)) < MAX_NULL_SHARE * effect)
    return "illusory" if needs_both and any(flags.values()) else "not illusory"


def summarise_checks(tables: list[pd.DataFrame], sites: pd.DataFrame) -> pd.DataFrame:
    """One row per (site, position, direction family): role, verdict, FLDD of v, v_row,
    v_null and the whole component, v_row's share of v's effect, the red flags and the
    rank-1 edit. DAS is the best restart; its restarts give the spread columns."""
    roles = sites.groupby(["hook", "position"])["role"].agg(", ".join)
    rows, seen = [], set()
    for table in tables:
        hook, position = table["hook"].iloc[0], table["position"].iloc[0]
        if (hook, position) in seen:  # one check may fill several roles
            continue
        seen.add((hook, position))
        whole_row = table[table["direction"] == "full component"].iloc[0]
        whole = whole_row["fldd"]
        restarts = table[table["direction"].str.startswith("DAS restart") & (table["variant"] == "v")]
        for family in FAMILIES:
            found = table[table["direction"] == family].set_index("variant")
            if found.empty:
                continue
            v = found.loc["v"]
            row = {"hook": hook, "position": position, "role": roles.get((hook, position), "sweep"),
                   "direction": family, "verdict": v["verdict"], "fldd_whole": whole,
                   **{f"fldd_{variant}": found["fldd"].get(variant, np.nan)
                      for variant in ("v", "v_row", "v_null")},
                   "interchange_v": v["interchange_accuracy"],
                   **{f"{name}_{end}": row_of.get(f"{column}_{end}", np.nan)
                      for name, row_of, column in (("fldd_whole", whole_row, "fldd"), ("fldd_v", v, "fldd"),
                                                   ("interchange_v", v, "interchange"))
                      for end in ("low", "high")},  # bootstrap 95% intervals over pairs
                   "v_row_share": found["fldd"].get("v_row", np.nan) / v["fldd"] if v["fldd"] else np.nan,
                   **{flag: bool(v[flag]) for flag in ("v_row dormant", "outside natural range",
                                                      "1-D matches whole")},
                   "fldd_edit": found["fldd"].get("rank-1 edit", np.nan),
                   "edit_patch_agreement": (found.loc["rank-1 edit", "edit_patch_agreement"]
                                            if "rank-1 edit" in found.index else np.nan)}
            if family == "DAS" and len(restarts):
                row.update({"restarts": len(restarts), "fldd_v_mean": restarts["fldd"].mean(),
                            "fldd_v_sd": restarts["fldd"].std(),
                            "restart_verdicts": ", ".join(sorted(set(restarts["verdict"])))})
            rows.append(row)
    return pd.DataFrame(rows)


def family_rates(summary: pd.DataFrame) -> pd.DataFrame:
    """Per direction family: checks, how many had an effect, how many were illusory, and
    the illusory fraction of all checks and of those with an effect."""
    rows = []
    for family in FAMILIES:
        found = summary[summary["direction"] == family]
        if found.empty:
            continue
        effect = int((found["verdict"] != "no effect").sum())
        illusory = int((found["verdict"] == "illusory").sum())
        rows.append({"direction": family, "checks": len(found), "with effect": effect,
                     "illusory": illusory, "illusory fraction": illusory / len(found),
                     "illusory fraction of effective": illusory / effect if effect else np.nan})
    return pd.DataFrame(rows)
