"""The replication over seeds: per-seed configs, the aggregate of verdicts, the report's
"replicated in k of n seeds", bootstrap intervals, and a seeds run of the smoke config
(Snakemake modules, one per seed) whose counts are checked against each seed's verdicts."""

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO
from factlens.illusion.intervention import outcome_from_differences
from factlens.pipeline.report import render_report
from factlens.sae.claims import GATED_MAX_L0_RATIO
from factlens.pipeline.seeds import (SEED_KEYS, aggregate, config_value, replicated_in, same_seeds, seed_tables,
                           seeded_config, path_list, table_links)
from factlens.statistics import bootstrap_mean, bootstrap_ratio


def test_a_seeded_config_sets_every_seed_and_its_folders():
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert same_seeds(base, 0) and not same_seeds(base, 1)
    # the base run is its own seed 0: reused as it is
    assert seeded_config(base, 0, "elsewhere", "elsewhere/results") == base
    seeded = seeded_config(base, 2, "work/seeds/seed-2", "work/seeds/seed-2/results")
    assert all(config_value(seeded, key) == 2 for key in SEED_KEYS)
    assert seeded["workdir"] == "work/seeds/seed-2" and seeded["resultsdir"].endswith("results")
    assert seeded["report"]["seeds"] is None  # a seed's report does not read the aggregate
    assert all(config_value(base, key) == 0 for key in SEED_KEYS)  # the base is not modified
    # everything else is the base's
    assert seeded["sae"]["sites"] == base["sae"]["sites"] and seeded["directions"]["pairs"] == base["directions"]["pairs"]


def verdict_rows(seed, verdicts, values):
    return pd.DataFrame({"seed": seed, "key": ["a", "b", "c"], "title": ["A", "B", "C"],
                         "verdict": verdicts, "metric": "m", "value": values})


def test_aggregate_counts_verdicts_and_spreads_numbers():
    verdicts = pd.concat([
        verdict_rows(0, ["yes", "no", "not testable here"], [0.5, 1.0, np.nan]),
        verdict_rows(1, ["yes", "yes", "not testable here"], [0.7, 2.0, np.nan]),
        verdict_rows(2, ["no", "yes", "yes"], [0.9, 3.0, 0.1])])
    table = aggregate(verdicts).set_index("key")
    assert table.loc["a", "replicated"] == 2 and table.loc["a", "testable"] == 3
    assert table.loc["a", "mean"] == pytest.approx(0.7) and table.loc["a", "sd"] == pytest.approx(0.2)
    assert (table.loc["b", "min"], table.loc["b", "max"]) == (1.0, 3.0)
    assert replicated_in(table.loc["a"]) == "2 of 3 seeds"
    assert replicated_in(table.loc["c"]) == "1 of 1 seeds (2 not testable)"
    assert table.loc["a", "verdicts"] == "0: yes, 1: yes, 2: no"
    nothing = aggregate(verdicts[verdicts.key == "c"].assign(verdict="not testable here")).iloc[0]
    assert replicated_in(nothing) == "not testable in any of 3 seeds"


def test_per_seed_tables_and_their_links():
    organism, replication = seed_tables("organism"), seed_tables("replication")
    assert "localisation/patching.csv" in organism and "directions/sites.csv" in organism
    assert set(organism) < set(replication) and "report/verdicts.csv" in replication
    assert "report/attribution_exact_step.md" in replication
    assert table_links(["seed-3/model/accuracy.json", "seed-3/report/pareto_gated.md",
                        "seed-4/directions/sites.csv"]) == [
        "- seed 3: [accuracy.json](seed-3/model/accuracy.json), [pareto gated](seed-3/report/pareto_gated.md)",
        "- seed 4: [sites.csv](seed-4/directions/sites.csv)"]


def test_the_seeds_figure_draws_each_rules_line():
    from factlens.pipeline.stages.aggregate_seeds import spread_figure

    verdicts = pd.concat([verdict_rows(seed, ["yes", "no", "yes"], [0.4 + seed / 10, 2.0, 0.1])
                          for seed in (0, 1)]).assign(line=[0.75, np.nan, 0.2] * 2,
                                                      passes=["below", "", "above"] * 2)
    figure = spread_figure(verdicts)
    lines = {axis.get_title(): [tuple(line.get_ydata()) for line in axis.get_lines() if len(line.get_ydata())]
             for axis in figure.axes}
    assert lines["a"] == [(0.75, 0.75)] and lines["c"] == [(0.2, 0.2)] and lines["b"] == []


def test_bootstrap_intervals_cover_the_estimate_and_shrink_with_more_units():
    generator = np.random.default_rng(0)
    small, large = generator.uniform(size=50) < 0.8, generator.uniform(size=2000) < 0.8
    low, high = bootstrap_mean(small)
    assert low <= small.mean() <= high
    wide, narrow = high - low, np.subtract(*bootstrap_mean(large)[::-1])
    assert narrow < wide / 3  # ~ 1 / sqrt(40)
    # FLDD's interval is 1 - the interval of sum(intervened) / sum(clean), over pairs
    clean = torch.tensor(generator.uniform(1, 2, 200), dtype=torch.float32)
    intervened = clean * torch.tensor(generator.uniform(-0.2, 0.6, 200), dtype=torch.float32)
    outcome = outcome_from_differences({"clean": clean, "intervened": intervened})
    kept = bootstrap_ratio(intervened.numpy(), clean.numpy())
    assert outcome["fldd_low"] == pytest.approx(1 - kept[1]) and outcome["fldd_high"] == pytest.approx(1 - kept[0])
    assert outcome["fldd_low"] < outcome["fldd"] < outcome["fldd_high"]
    assert outcome["interchange_low"] <= outcome["interchange_accuracy"] <= outcome["interchange_high"]


def test_the_report_states_each_claims_count_over_seeds():
    from factlens.claim import Claim

    claims = [Claim(key=k, title=t, source="s", table=pd.DataFrame({"x": [1]}), replicated=True,
                    summary="ok", rule="r") for k, t in (("a", "A"), ("b", "B"))]
    seeds = aggregate(pd.concat([verdict_rows(0, ["yes", "no", "yes"], [1, 2, 3]),
                                 verdict_rows(1, ["yes", "yes", "yes"], [1, 2, 3])]))
    text = render_report(claims, pd.DataFrame({"measure": ["m"], "value": [1]}), "organism", False,
                         seeds=[(seeds, "../seeds/SEEDS.md")])
    assert "| [A](#a) | s | yes | 2 of 2 seeds |" in text
    assert "| [B](#b) | s | yes | 1 of 2 seeds |" in text
    assert "[2 seeds](../seeds/SEEDS.md): every claim" in text
    assert "Over seeds ([the runs](../seeds/SEEDS.md)): replicated in 1 of 2 seeds (0: no, 1: yes)" in text
    assert "over seeds" not in render_report(claims, pd.DataFrame({"m": [1]}), "organism", False)
    # two runs over seeds: a claim's count comes from the first that checks it
    organism_only = aggregate(pd.concat([verdict_rows(s, ["no", "yes", "yes"], [1, 2, 3]) for s in range(5)])
                              .query("key == 'a'"))
    text = render_report(claims, pd.DataFrame({"m": [1]}), "organism", False,
                         seeds=[(organism_only, "../organism-seeds/SEEDS.md"), (seeds, "../seeds/SEEDS.md")])
    assert "| [A](#a) | s | yes | 0 of 5 seeds |" in text and "| [B](#b) | s | yes | 1 of 2 seeds |" in text
    assert "[5 seeds](../organism-seeds/SEEDS.md): 1 claim; [2 seeds](../seeds/SEEDS.md): every claim" in text
    assert path_list(None) == [] and path_list("a.csv") == ["a.csv"]


def test_a_seeds_run_aggregates_every_seeds_verdicts(seeds_run):
    from workflow_runs import factlens, planned_jobs, snakemake

    clone = seeds_run.clone
    table = pd.read_csv(clone / "results" / "seeds-smoke" / "seeds.csv").set_index("key")
    seed_1 = clone / "work" / "seeds-smoke" / "seed-1"
    # seed 0 is the smoke run itself (its folders); seed 1 trained its own organism
    by_seed = {0: pd.read_csv(clone / "results" / "smoke" / "report" / "verdicts.csv"),
               1: pd.read_csv(seed_1 / "results" / "report" / "verdicts.csv")}
    assert (seed_1 / "model" / "config.json").exists() and (seed_1 / "results" / "REPORT.md").exists()
    world = {seed: pd.read_csv(folder / "world" / "athletes.csv")
             for seed, folder in ((0, clone / "work" / "smoke"), (1, seed_1))}
    assert not world[0]["name"].equals(world[1]["name"])  # a different world
    for key, row in table.iterrows():
        verdicts = [frame.set_index("key").loc[key, "verdict"] for frame in by_seed.values()]
        assert row["replicated"] == verdicts.count("yes")
        assert row["testable"] == len([v for v in verdicts if v != "not testable here"])
    summary = (clone / "results" / "seeds-smoke" / "SEEDS.md").read_text()
    assert summary.startswith("# The replication over seeds")
    # each seed's own tables, byte for byte its run's, archived and linked from SEEDS.md
    for seed, results in ((0, clone / "results" / "smoke"), (1, seed_1 / "results")):
        for archived in seed_tables("replication"):
            copy = clone / "results" / "seeds-smoke" / f"seed-{seed}" / archived
            assert copy.read_bytes() == (results / archived).read_bytes(), archived
            assert f"](seed-{seed}/{archived})" in summary
    by_seed_table = pd.read_csv(clone / "results" / "seeds-smoke" / "verdicts.csv").set_index(["seed", "key"])
    assert by_seed_table.loc[(0, "pareto_gated"), "line"] == pytest.approx(GATED_MAX_L0_RATIO)
    assert by_seed_table.loc[(0, "pareto_gated"), "passes"] == "below"
    verified = factlens(clone, "verify", "--manifest", "results/seeds-smoke/MANIFEST.json")
    assert verified.returncode == 0, verified.stderr[-2000:]
    # the base run is seed 0's: after the seeds run it only had its report and archive to
    # make; with the aggregate its report is rebuilt and states the count over seeds
    assert set(seeds_run.left_for_the_base_run) <= {"build_report", "archive_results", "all"}, \
        seeds_run.left_for_the_base_run
    overlay = clone / "with-seeds.yaml"
    overlay.write_text(yaml.safe_dump({"report": {"seeds": "results/seeds-smoke/seeds.csv"}}))
    planned = planned_jobs(snakemake(clone, "-n", "--configfile", "config/smoke.yaml", str(overlay)))
    assert set(planned) <= {"build_report", "archive_results", "all"}, planned
    result = snakemake(clone, "--configfile", "config/smoke.yaml", str(overlay), timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    report = (clone / "results" / "smoke" / "REPORT.md").read_text()
    assert "over seeds |" in report and "(../seeds-smoke/SEEDS.md)" in report
    assert report.count(" of 2 seeds") + report.count("not testable in any of 2 seeds") >= 2 * len(table)
