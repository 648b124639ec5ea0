"""The replication over seeds: one config per seed (every seed of the run set to it:
world, organism, SAEs, probes, patching pairs, DAS, attribution), and the aggregate of
the per-seed verdicts: for every claim, each seed's verdict and its headline number's
mean, standard deviation and range."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd

from factlens.pipeline.claims import CLAIM_KEYS

SEED_KEYS = ("world.seed", "model.organism.seed", "sae.training.seed", "localisation.probe.seed",
             "localisation.patching.seed", "directions.das.seed", "attribution.seed")


def _set(config: dict, dotted: str, value) -> None:
    *parents, key = dotted.split(".")
    for parent in parents:
        config = config.setdefault(parent, {})
    config[key] = value


def config_value(config: dict, dotted: str, default=0):
    """A dotted key of a config ("world.seed"); `default` where it is not set (the schema's)."""
    for key in dotted.split("."):
        if not isinstance(config, dict) or key not in config:
            return default
        config = config[key]
    return config


def path_list(value) -> list[str]:
    """A config entry that names files (`report.seeds`, `report.convergence`) as a list of
    paths: it may be one path, a list, or null."""
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def same_seeds(config: dict, seed: int) -> bool:
    """Whether every seed of `config` already equals `seed` (the run can be reused)."""
    return all(config_value(config, key) == seed for key in SEED_KEYS) and not any(
        "seed" in site.get("training", {}) for site in config_value(config, "sae.sites", []))


def seeded_config(base: dict, seed: int, workdir: str, resultsdir: str) -> dict:
    """`base` with every seed set to `seed` (per-site SAE seeds too) and its own folders;
    `base` itself if its seeds are `seed` already (its run is reused as it is)."""
    if same_seeds(base, seed):
        return copy.deepcopy(base)
    config = copy.deepcopy(base)
    for key in SEED_KEYS:
        _set(config, key, seed)
    for site in config_value(config, "sae.sites", []):
        if "seed" in site.get("training", {}):
            site["training"]["seed"] = seed
    config.update(workdir=workdir, resultsdir=resultsdir)
    _set(config, "report.seeds", None)  # a seed's own report does not read the aggregate
    _set(config, "report.convergence", None)  # nor the base run's convergence study
    return config


def base_config(overlays, workflow_config: str = "config/config.yaml") -> dict:
    """The config a base run sees: the workflow's own configfile with each overlay merged
    on top, as Snakemake's `--configfile` does."""
    import yaml
    from snakemake.utils import update_config

    merged = {}
    for path in [workflow_config, *([overlays] if isinstance(overlays, str) else overlays)]:
        with open(path) as stream:
            update_config(merged, yaml.safe_load(stream))
    return merged


def seed_folders(base: dict, seed: int, workdir: str) -> tuple[str, str]:
    """(workdir, resultsdir) of one seed's run: the base run's own if its seeds are this
    one (the run is reused), else workdir/seed-N and its results inside it."""
    if same_seeds(base, seed):
        return base["workdir"], base["resultsdir"]
    own = f"{workdir}/seed-{seed}"
    return own, f"{own}/results"


# Each seed's own tables, archived beside the aggregate (small files only), so that a
# reader can see why a seed's verdict differs: the organism's accuracy, name-part control
# and training curve, the patching and probe tables, the illusion sites and checks.
ORGANISM_TABLES = ("model/accuracy.json", "model/name_part_accuracy.csv", "model/loss_curve.csv",
                   "localisation/patching.csv", "localisation/probe_accuracy.csv",
                   "directions/sites.csv", "directions/summary.csv")


def seed_tables(scope: str) -> list[str]:
    """The tables archived per seed (paths inside a run's results folder): the organism's
    for `scope` 'organism'; with the report's per-claim tables and verdicts for
    'replication'."""
    tables = list(ORGANISM_TABLES)
    if scope == "replication":
        tables += ["report/verdicts.csv", *(f"report/{key}.md" for key in CLAIM_KEYS)]
    return tables


def table_links(tables: list[str]) -> list[str]:
    """Markdown lines linking each seed's archived tables, given as paths relative to the
    aggregate's folder (seed-N/<table>), one line per seed in the order given."""
    by_seed: dict[str, list[str]] = {}
    for table in tables:
        by_seed.setdefault(table.split("/", 1)[0], []).append(table)

    def label(table: str) -> str:
        path = Path(table)
        return path.stem.replace("_", " ") if path.parent.name == "report" else path.name

    return [f"- {folder.replace('-', ' ')}: " + ", ".join(f"[{label(t)}]({t})" for t in tables)
            for folder, tables in by_seed.items()]


def aggregate(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Per claim (in the report's order): the verdict of each seed, how many replicated
    out of the seeds where it was testable, and the headline number's spread."""
    rows = []
    for key, group in verdicts.groupby("key", sort=False):
        group = group.sort_values("seed")
        values = group["value"].dropna()
        testable = group[group["verdict"] != "not testable here"]
        rows.append({
            "key": key, "title": group["title"].iloc[0], "metric": group["metric"].iloc[0],
            "seeds": len(group), "testable": len(testable),
            "replicated": int((testable["verdict"] == "yes").sum()),
            "verdicts": ", ".join(f"{s}: {v}" for s, v in zip(group["seed"], group["verdict"])),
            "mean": values.mean() if len(values) else np.nan,
            "sd": values.std(ddof=1) if len(values) > 1 else np.nan,
            "min": values.min() if len(values) else np.nan,
            "max": values.max() if len(values) else np.nan,
            "line": group["line"].iloc[0] if "line" in group else np.nan,
            "passes": group["passes"].iloc[0] if "passes" in group else "",
        })
    return pd.DataFrame(rows)


def replicated_in(row) -> str:
    """'k of n seeds' ('not testable in any seed' when none could test it)."""
    if row["testable"] == 0:
        return f"not testable in any of {row['seeds']} seeds"
    untestable = row["seeds"] - row["testable"]
    return (f"{row['replicated']} of {row['testable']} seeds"
            + (f" ({untestable} not testable)" if untestable else ""))
