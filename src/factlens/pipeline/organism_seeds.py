"""The organism over seeds (make organism-seeds): does every seed learn the facts and the
mechanisms the replication tests, and does every seed have a site where the illusion
can happen? One row per seed from its run's tables, the organism's targets counted over
seeds, and how each seed's illusion verdict moves when the site rule's whole-component
line or the verdict's v_row-share line moves by half in either direction.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from factlens.claim import Claim
from factlens.facts.claims import localisation_claims
from factlens.illusion.verdicts import MAX_ROW_SHARE, verdict_from
from factlens.illusion.claims import editing_claim, family_claim, illusion_claim
from factlens.illusion.sites import SiteThresholds, choose_sites

FINAL_TOKEN = "of"
LINE_FACTORS = (0.5, 1.0, 1.5)
FLAGS = ("v_row dormant", "outside natural range", "1-D matches whole")

# The organism's targets (issue "Organism v3"; docs/organism.md): (column, test, at least k
# of n seeds, what it says)
TARGETS = (
    ("fact_accuracy", lambda v: v >= 0.95, 1.0, "Fact-prompt accuracy >= 95%"),
    ("heldout_mean", lambda v: v >= 0.80, 0.8, "held-out template mean >= 80%"),
    ("heldout_min", lambda v: v >= 0.40, 1.0, "no held-out template at chance (all >= 40%)"),
    ("name_margin", lambda v: v >= 0.40, 1.0, "full name beats the best single part by >= 40 points"),
    ("localisation", lambda v: v == "yes", 0.8, "localisation: gather, MLP lookup, move"),
    ("off_circuit", lambda v: v != "-", 0.8, "an off-circuit MLP at the final token reads the sport"),
)


def das_row(summary: pd.DataFrame, hook: str, position: str) -> pd.Series | None:
    """The DAS row of the check at (hook, position), if that site was checked."""
    found = summary[(summary["direction"] == "DAS") & (summary["hook"] == hook)
                    & (summary["position"] == position)]
    return found.iloc[0] if len(found) else None


def off_circuit_verdict(patching: pd.DataFrame, probes: pd.DataFrame, summary: pd.DataFrame,
                        thresholds: SiteThresholds, max_row_share: float) -> tuple[str, str]:
    """(site, verdict) of the illusion test under the given lines: the off-circuit MLP the
    site rule picks and its DAS direction's verdict ('-' where no site qualifies)."""
    sites = choose_sites(patching, probes, FINAL_TOKEN, thresholds)
    off = sites[sites["role"] == "off-circuit"]
    if off.empty:
        return "-", "not testable"
    hook, position = off.iloc[0]["hook"], off.iloc[0]["position"]
    das = das_row(summary, hook, position)
    if das is None:
        return hook, "not checked"
    return hook, verdict_from(das["fldd_v"], das["fldd_v_row"], das["fldd_v_null"],
                              {flag: bool(das[flag]) for flag in FLAGS}, max_row_share)


def sensitivity(patching: pd.DataFrame, probes: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """The illusion verdict with the whole-component line and the v_row-share line each
    at half, the stated value and one and a half times it."""
    base = SiteThresholds()
    rows = []
    for whole in LINE_FACTORS:
        thresholds = replace(base, max_whole=base.max_whole * whole)
        for share in LINE_FACTORS:
            site, verdict = off_circuit_verdict(patching, probes, summary, thresholds, MAX_ROW_SHARE * share)
            rows.append({"whole_line": round(thresholds.max_whole, 6),
                         "row_share_line": round(MAX_ROW_SHARE * share, 6), "site": site, "verdict": verdict})
    return pd.DataFrame(rows)


def organism_claims(results: Path) -> list[Claim]:
    """The claims a run of the organism alone can check (no SAE sweeps): localisation,
    probes and the illusion claims, from the tables in `results`."""
    summary = pd.read_csv(results / "directions/summary.csv")
    return [*localisation_claims(pd.read_csv(results / "localisation/patching.csv"),
                                 pd.read_csv(results / "localisation/probe_accuracy.csv"), FINAL_TOKEN),
            illusion_claim(summary, pd.read_csv(results / "directions/sites.csv")),
            family_claim(pd.read_csv(results / "directions/families.csv")), editing_claim(summary)]


def seed_row(seed: int, results: Path, train_seconds: float) -> tuple[dict, pd.DataFrame, list[Claim]]:
    """One seed's row (organism, localisation, illusion site and its numbers), its
    sensitivity table and its claims, from the tables of its run in `results`."""
    accuracy = json.loads((results / "model/accuracy.json").read_text())
    patching = pd.read_csv(results / "localisation/patching.csv")
    probes = pd.read_csv(results / "localisation/probe_accuracy.csv")
    sites = pd.read_csv(results / "directions/sites.csv")
    summary = pd.read_csv(results / "directions/summary.csv")
    claims = organism_claims(results)
    lookup = claims[0]
    templates = accuracy["heldout_template_accuracy"]
    row = {"seed": seed, "steps": accuracy["steps"], "decay_start": accuracy["decay_start"],
           "train_seconds": train_seconds, "fact_accuracy": accuracy["fact_prompt_accuracy"],
           "heldout_mean": accuracy["heldout_template_mean_accuracy"],
           "heldout_min": min(templates.values()), "name_margin": accuracy["full_name_margin_over_best_part"],
           "localisation": lookup.verdict, "localisation_summary": lookup.summary}
    by_role = sites.set_index("role")
    # each role's site column, then its numbers under the role's prefix
    for role, prefix, site_column in (("off-circuit", "off", "off_circuit"),
                                      ("negative control", "control", "control")):
        if role not in by_role.index:
            row[site_column] = "-"
            continue
        site = by_role.loc[role]
        das = das_row(summary, site["hook"], site["position"])
        row[site_column] = f"{site['hook']} ({site['position']})"
        if prefix == "off":
            row.update({"off_input_probe": site["input_probe"], "off_input_restored": site["input_restored"]})
        if das is not None:
            row.update({f"{prefix}_whole": das["fldd_whole"], f"{prefix}_das": das["fldd_v"],
                        f"{prefix}_v_row": das["fldd_v_row"], f"{prefix}_v_null": das["fldd_v_null"],
                        f"{prefix}_interchange": das["interchange_v"], f"{prefix}_verdict": das["verdict"]})
    final_mlps = summary[(summary["direction"] == "DAS") & (summary["position"] == "final token")
                         & summary["hook"].str.endswith("mlp.hook_post")]
    row["final_token_mlps"] = "; ".join(
        f"L{r.hook.split('.')[1]}: whole {r.fldd_whole:.0%}, DAS {r.fldd_v:.0%}, v_row {r.fldd_v_row:.0%}"
        f" ({r.verdict})" for r in final_mlps.itertuples())
    return row, sensitivity(patching, probes, summary).assign(seed=seed), claims


def targets_met(seeds: pd.DataFrame) -> pd.DataFrame:
    """Each target: in how many seeds it holds, against how many it needs."""
    rows = []
    for column, test, share, text in TARGETS:
        held = int(seeds[column].map(test).sum())
        needed = int(np.ceil(share * len(seeds)))
        rows.append({"target": text, "seeds meeting it": f"{held} of {len(seeds)}",
                     "needed": f"{needed} of {len(seeds)}", "met": "yes" if held >= needed else "no"})
    return pd.DataFrame(rows)
