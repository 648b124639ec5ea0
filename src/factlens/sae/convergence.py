"""How far the default's SAEs are from convergence (issue 21): the same sweeps trained for
1x, 2x, 4x and 8x the default's tokens, each run's SAE verdict headlines with their
bootstrap intervals, and where doubling the training stops moving them.

A study run is the default config with a trained organism's checkpoint (the archived
one, or another seed's; no retraining), only the studied sites, and every SAE training
length multiplied; each run writes the usual SAE tables (sweep, L0 at equal loss
recovered, metrics at equal L0)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd

from factlens.sae.claims import faithfulness_claims, sae_claims

# the claims whose headline is an SAE verdict's number (factlens.sae.claims); a study with
# `attribution: true` adds the attribution claims (factlens.attribution.claims.attribution_headlines),
# which rest on SAEs too: MLP0's hidden-layer SAE upstream, the residual site's ReLU and
# JumpReLU SAEs downstream
HEADLINE_KEYS = ("pareto_gated", "pareto_jumprelu", "shrinkage", "jumprelu_vs_gated", "jumprelu_vs_topk")
SAE_TABLES = ("sweep", "l0_at_equal_loss_recovered", "at_equal_l0")
ATTRIBUTION_TABLES = ("comparison", "totals")
SWEEP_COLUMNS = ["hook_name", "architecture", "sparsity_coefficient", "d_sae", "l0", "fvu", "loss_recovered",
                 "delta_lm_loss", "dead_fraction", "dense_latents", "dense_fraction", "training_tokens"]


def study_sweep(sweep: pd.DataFrame, hooks: list[str]) -> pd.DataFrame:
    """One run's SAEs at the studied sites, with the share of latents that are dense
    (firing on more than 10% of tokens; factlens.sae.metrics) beside the dead share."""
    sweep = sweep[sweep["hook_name"].isin(hooks)]
    return sweep.assign(dense_fraction=sweep["dense_latents"] / sweep["d_sae"])[SWEEP_COLUMNS]


def study_config(base: dict, multiplier: int, hooks: list[str], checkpoint: str,
                 workdir: str, resultsdir: str) -> dict:
    """The base config for one training length: SAE steps (the site overrides too)
    multiplied, only the sites of `hooks` (and those the attribution config names, which
    the workflow requires), the organism from `checkpoint`, own folders, no reading of
    runs over seeds."""
    config = copy.deepcopy(base)
    training = config["sae"].setdefault("training", {})
    training["steps"] = training.get("steps", 300) * multiplier
    attribution = config.get("attribution", {})
    required = {attribution.get("upstream", {}).get("hook"), attribution.get("downstream", {}).get("hook")}
    sites = [site for site in config["sae"]["sites"] if site["hook"] in {*hooks, *required}]
    missing = sorted(set(hooks) - {site["hook"] for site in sites})
    if missing:
        raise ValueError(f"sites: the base config sweeps no SAEs at {', '.join(missing)}")
    for site in sites:
        if "steps" in site.get("training", {}):
            site["training"]["steps"] *= multiplier
    config["sae"]["sites"] = sites
    config.setdefault("model", {})["checkpoint"] = checkpoint
    config.setdefault("report", {}).update(seeds=[], convergence=None)
    config.update(workdir=workdir, resultsdir=resultsdir)
    return config


def length_results(multipliers: list[int], workdir: str, base_resultsdir: str,
                   reuse: dict | None = None) -> dict[int, str]:
    """Each training length's results folder: the base run's own for 1x, the lengths
    `reuse` names read from another study's work folder (`reuse["workdir"]`, the same base
    and organism: a study extended to a longer length need not retrain the shorter ones),
    and every other length's own folder under `workdir`."""
    reused = set((reuse or {}).get("multipliers", []))
    if not reused <= set(multipliers) - {1}:
        raise ValueError(f"reuse: multipliers {sorted(reused)} must be lengths of this study other than 1, "
                         f"which are {multipliers}")
    return {m: base_resultsdir if m == 1 else f"{reuse['workdir'] if m in reused else workdir}/x{m}/results"
            for m in multipliers}


def run_tables(saes: Path, attribution: bool = False) -> dict[str, pd.DataFrame]:
    """One run's SAE tables (its results/saes folder): the sweep and both comparisons; with
    `attribution`, the run's attribution tables (results/attribution, beside saes) too."""
    tables = {name: pd.read_csv(saes / f"{name}.csv") for name in SAE_TABLES}
    if attribution:
        tables |= {f"attribution_{name}": pd.read_csv(saes.parent / "attribution" / f"{name}.csv")
                   for name in ATTRIBUTION_TABLES}
    return tables


def headline_rows(claims) -> pd.DataFrame:
    """One row per claim: its key, metric, verdict, headline number, interval and line."""
    return pd.DataFrame([{"key": claim.key, "metric": claim.metric, "verdict": claim.verdict,
                          "value": claim.value, "low": claim.value_low, "high": claim.value_high,
                          "line": claim.line} for claim in claims],
                        columns=["key", "metric", "verdict", "value", "low", "high", "line"])


def run_headlines(tables: dict[str, pd.DataFrame], hooks: list[str]) -> pd.DataFrame:
    """Each SAE claim's headline number and its interval, from one run's SAE tables
    (`run_tables`), at the sites of `hooks` only: a claim's headline is its extreme over
    every site it reads, so a run with more sites (the 1x run is the whole default) must
    not add any."""
    tables = {name: tables[name][tables[name]["hook_name"].isin(hooks)] for name in SAE_TABLES}
    claims = [*sae_claims(tables["sweep"], tables["l0_at_equal_loss_recovered"]),
              *faithfulness_claims(tables["at_equal_l0"])]
    return headline_rows(claim for claim in claims if claim.key in HEADLINE_KEYS)


def doubling_shifts(headlines: pd.DataFrame) -> pd.DataFrame:
    """For each claim and each doubling of the training (m -> 2m): how far the headline
    moved and the width of its 95% interval at 2m; `settled` when it moved less than that
    width (NaN where the headline has no interval)."""
    rows = []
    for key, runs in headlines.groupby("key", sort=False):
        runs = runs.set_index("multiplier").sort_index()
        for short, long in zip(runs.index[:-1], runs.index[1:]):
            if long != 2 * short:
                continue
            shift = abs(runs.at[long, "value"] - runs.at[short, "value"])
            width = runs.at[long, "high"] - runs.at[long, "low"]
            rows.append({"key": key, "from": short, "to": long, "shift": shift, "interval_width": width,
                         "settled": bool(shift < width) if np.isfinite(width) else np.nan})
    return pd.DataFrame(rows, columns=["key", "from", "to", "shift", "interval_width", "settled"])


def converged_multiplier(shifts: pd.DataFrame) -> int | None:
    """The shortest length m from which doubling moved every headline with an interval by
    less than that interval, at every doubling measured from m on; None if none did."""
    judged = shifts.dropna(subset=["settled"])
    for start in sorted(judged["from"].unique()):
        if judged.loc[judged["from"] >= start, "settled"].all():
            return int(start)
    return None


def study_runs(headlines: pd.DataFrame, manifest: dict, name: str) -> pd.DataFrame:
    """One archived study's headlines, labelled with what tells its runs apart from another
    study's: its sites (a headline is its extreme over them), its organism's seed, its SAE
    seed, the CPU that archived it (the same seeds retrained on another CPU are another run:
    float rounding moves the activations and training amplifies it; "not recorded" in
    manifests before 2026-12-05), its name, its work folder and the work folder each length
    trained in (another study's for the lengths it reuses: `combine_studies` gives those
    that study's CPU)."""
    study, base = manifest["config"]["convergence"], manifest["config"]["base"]
    workdir = study.get("workdir", name)
    reuse = study.get("reuse") or {}
    reused = headlines["multiplier"].isin(reuse.get("multipliers", []))
    sites = pd.Series(", ".join(study["hooks"]), index=headlines.index)
    attribution = ~headlines["key"].isin(HEADLINE_KEYS)
    if attribution.any():  # the attribution claims: from the upstream SAE through the downstream ones
        sites[attribution] = " -> ".join(base["attribution"][end]["hook"] for end in ("upstream", "downstream"))
    return headlines.assign(sites=sites,
                            organism_seed=int(base.get("model", {}).get("organism", {}).get("seed", 0)),
                            sae_seed=int(base["sae"].get("training", {}).get("seed", 0)),
                            cpu=cpu_label(manifest.get("machine", {})), study=name, workdir=workdir,
                            trained_in=np.where(reused, reuse.get("workdir", ""), workdir))


def cpu_label(machine: dict) -> str:
    """A manifest's CPU and torch's kernel set on it, e.g. "AMD EPYC (AVX512)"."""
    if not machine.get("cpu"):
        return "not recorded"
    return machine["cpu"] + (f" ({machine['cpu_capability']})" if machine.get("cpu_capability") else "")


def reused_lengths_on_their_cpu(table: pd.DataFrame) -> pd.DataFrame:
    """Label each reused length (`study_runs`' trained_in) with the CPU of the study that
    trained it, followed through studies that reuse it in turn, where that study is in
    `table`: a study archived on one CPU that extends one archived on another must not
    present the other's SAEs as its own CPU's."""
    trained = {(row.workdir, row.multiplier): (row.trained_in, row.cpu) for row in table.itertuples()}

    def cpu_of(workdir: str, multiplier: int, cpu: str) -> str:
        seen = set()
        while (workdir, multiplier) in trained and (workdir, multiplier) not in seen:
            seen.add((workdir, multiplier))
            source, cpu = trained[(workdir, multiplier)]
            if source == workdir:
                break
            workdir = source
        return cpu

    return table.assign(cpu=[cpu_of(row.trained_in, row.multiplier, row.cpu) for row in table.itertuples()])


def combine_studies(studies: list[pd.DataFrame]) -> pd.DataFrame:
    """The headlines of several studies (`study_runs`) as one table, one row per claim, sites,
    organism, SAE seed, CPU and length. A study that extends another reads that one's shorter
    lengths, so the same run can appear twice: it is kept once, and must have the same
    numbers in both."""
    table = reused_lengths_on_their_cpu(pd.concat(studies, ignore_index=True))
    run = ["key", "sites", "organism_seed", "sae_seed", "cpu", "multiplier"]
    for _, copies in table[table.duplicated(run, keep=False)].groupby(run, sort=False):
        numbers = copies[["value", "low", "high"]].to_numpy(dtype=float)
        if not np.allclose(numbers, numbers[0], equal_nan=True) or copies["verdict"].nunique() > 1:
            first = copies.iloc[0]
            raise ValueError(f"{first['key']} at {first['multiplier']}x ({first['sites']}, organism seed "
                             f"{first['organism_seed']}, SAE seed {first['sae_seed']}) differs between the studies "
                             f"{', '.join(copies['study'])}: they did not train the same SAEs")
    return table.drop_duplicates(run, keep="first").reset_index(drop=True)
