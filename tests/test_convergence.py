"""The SAE convergence study: each training length's config, and how the doubling rule
reads the headlines (moved less than the interval: settled)."""

import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO
from workflow_runs import clone_repository, planned_jobs, snakemake
from factlens.sae.convergence import (combine_studies, converged_multiplier, doubling_shifts, length_results,
                                      study_config, study_runs)

BASE = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_a_study_config_multiplies_every_sae_length_and_keeps_the_studied_sites():
    config = study_config(BASE, 4, ["blocks.1.hook_resid_post"], "results/default/model/checkpoint",
                          "work/c/x4", "work/c/x4/results")
    assert config["sae"]["training"]["steps"] == 4 * BASE["sae"]["training"]["steps"]
    hooks = [site["hook"] for site in config["sae"]["sites"]]
    # the studied site, and the attribution's upstream site the workflow requires; not MLP0's output
    assert hooks == ["blocks.1.hook_resid_post", "blocks.0.mlp.hook_post"]
    assert config["sae"]["sites"][1]["training"]["steps"] == 4 * BASE["sae"]["sites"][2]["training"]["steps"]
    assert config["model"]["checkpoint"] == "results/default/model/checkpoint"
    assert (config["workdir"], config["resultsdir"]) == ("work/c/x4", "work/c/x4/results")
    assert config["report"]["seeds"] == [] and config["report"]["convergence"] is None
    assert BASE["sae"]["training"]["steps"] == 300  # the base is left alone
    with pytest.raises(ValueError, match="sweeps no SAEs at blocks.3.hook_resid_post"):
        study_config(BASE, 2, ["blocks.3.hook_resid_post"], "c", "w", "r")


def test_an_extended_study_reads_the_reused_lengths_from_the_other_study():
    runs = length_results([1, 2, 4, 8, 16], "work/ext", "results/default",
                          {"workdir": "work/main-study", "multipliers": [2, 4, 8]})
    assert runs == {1: "results/default", 2: "work/main-study/x2/results", 4: "work/main-study/x4/results",
                    8: "work/main-study/x8/results", 16: "work/ext/x16/results"}
    assert length_results([1, 2], "work/c", "results/default") == {1: "results/default", 2: "work/c/x2/results"}
    with pytest.raises(ValueError, match=r"reuse: multipliers \[1, 32\] must be lengths of this study"):
        length_results([1, 2], "work/c", "results/default", {"workdir": "w", "multipliers": [1, 32]})


@pytest.mark.slow  # two dry runs of the study in a clone
def test_the_16x_study_trains_only_16x_and_needs_the_main_study_it_reuses(tmp_path):
    clone = clone_repository(tmp_path / "clone")
    arguments = ("-s", "workflow/convergence.smk", "-n", "--quiet", "rules")
    missing = snakemake(clone, *arguments, config="config/sae-convergence-16x.yaml", timeout=300)
    assert missing.returncode != 0
    assert ("reuse: work/sae-convergence/x2/results/saes has no tables; run the study whose workdir is "
            "work/sae-convergence first") in missing.stderr + missing.stdout
    for m in (2, 4, 8):
        saes = clone / "work" / "sae-convergence" / f"x{m}" / "results" / "saes"
        saes.mkdir(parents=True)
        for table in ("sweep", "l0_at_equal_loss_recovered", "at_equal_l0"):
            (saes / f"{table}.csv").write_text("hook_name\n")
    shutil.copytree(REPO / "results" / "default", clone / "results" / "default")
    jobs = planned_jobs(snakemake(clone, *arguments, config="config/sae-convergence-16x.yaml", timeout=300))
    assert jobs["x16_train_sae"] == 5  # the residual site's four sweeps and the attribution's one
    assert not [rule for rule in jobs if rule.startswith(("x2_", "x4_", "x8_"))]
    assert jobs["aggregate_convergence"] == 1


@pytest.mark.slow  # two dry runs of a study in a clone
def test_a_study_with_attribution_reruns_the_check_at_its_length_and_needs_it_where_it_reuses(tmp_path):
    clone = clone_repository(tmp_path / "clone")
    shutil.copytree(REPO / "results" / "default", clone / "results" / "default")
    arguments = ("-s", "workflow/convergence.smk", "-n", "--quiet", "rules")
    jobs = planned_jobs(snakemake(clone, *arguments, config="config/sae-convergence-seed2-16x.yaml", timeout=300))
    assert jobs["x16_attribute_latents"] == jobs["x16_prepare_prompts"] == jobs["aggregate_convergence"] == 1
    # extended to 32x, reading 16x from that study's folder: its attribution tables must be there too
    study = yaml.safe_load((REPO / "config" / "sae-convergence-seed2-16x.yaml").read_text())
    assert study["attribution"] is True
    extended = {**study, "multipliers": [16, 32], "reuse": {"workdir": study["workdir"], "multipliers": [16]},
                "workdir": "work/extended", "resultsdir": "results/extended"}
    (clone / "config" / "extended.yaml").write_text(yaml.safe_dump(extended))
    saes = clone / study["workdir"] / "x16" / "results" / "saes"
    saes.mkdir(parents=True)
    for table in ("sweep", "l0_at_equal_loss_recovered", "at_equal_l0"):
        (saes / f"{table}.csv").write_text("hook_name\n")
    missing = snakemake(clone, *arguments, config="config/extended.yaml", timeout=300)
    assert missing.returncode != 0
    assert (f"reuse: {study['workdir']}/x16/results/attribution has no comparison.csv; run the study whose "
            f"workdir is {study['workdir']} first with attribution: true") in missing.stderr + missing.stdout


def headlines(values: dict[str, list[float]], width: float = 0.1) -> pd.DataFrame:
    return pd.DataFrame([{"key": key, "multiplier": 2 ** i, "value": v,
                          "low": v - width / 2 if width else np.nan, "high": v + width / 2 if width else np.nan}
                         for key, series in values.items() for i, v in enumerate(series)])


def test_doubling_settles_once_every_headline_moves_less_than_its_interval():
    table = headlines({"pareto_gated": [0.40, 0.50, 0.55, 0.57], "jumprelu_vs_gated": [1.3, 1.1, 1.04, 1.0]},
                      width=0.08)
    shifts = doubling_shifts(table)
    assert list(zip(shifts["key"], shifts["from"], shifts["to"])) == [
        ("pareto_gated", 1, 2), ("pareto_gated", 2, 4), ("pareto_gated", 4, 8),
        ("jumprelu_vs_gated", 1, 2), ("jumprelu_vs_gated", 2, 4), ("jumprelu_vs_gated", 4, 8)]
    assert shifts["shift"].to_numpy() == pytest.approx([0.1, 0.05, 0.02, 0.2, 0.06, 0.04])
    assert shifts["settled"].tolist() == [False, True, True, False, True, True]
    assert converged_multiplier(shifts) == 2


def test_a_headline_still_moving_at_the_longest_length_means_not_converged():
    table = headlines({"pareto_gated": [0.40, 0.42, 0.44, 0.60]})
    assert converged_multiplier(doubling_shifts(table)) is None
    # a headline without an interval is shown but does not decide
    shrinkage = headlines({"shrinkage": [0.7, 0.8, 0.9, 1.0]}, width=0)
    both = doubling_shifts(pd.concat([headlines({"pareto_gated": [0.4, 0.41, 0.41, 0.41]}), shrinkage]))
    assert both.loc[both["key"] == "shrinkage", "settled"].isna().all()
    assert converged_multiplier(both) == 1


def manifest(hooks: list[str], seed: int | None, organism_seed: int | None = None, cpu: str | None = None,
             workdir: str | None = None, reuse: dict | None = None) -> dict:
    training = {} if seed is None else {"training": {"seed": seed}}
    model = {} if organism_seed is None else {"model": {"organism": {"seed": organism_seed}}}
    machine = {} if cpu is None else {"machine": {"cpu": cpu, "cpu_capability": "AVX512"}}
    study = {"hooks": hooks, **({"workdir": workdir} if workdir else {}), **({"reuse": reuse} if reuse else {})}
    return {"config": {"convergence": study, "base": {"sae": training, **model}}, **machine}


RESID, MLP0 = "blocks.1.hook_resid_post", "blocks.0.hook_mlp_out"


def test_studies_are_combined_by_sites_organism_and_sae_seed_and_a_reused_run_kept_once():
    main = study_runs(headlines({"pareto_gated": [0.4, 0.5]}).assign(verdict="yes"),
                      manifest([RESID, MLP0], None), "main")
    longer = study_runs(headlines({"pareto_gated": [0.45, 0.55, 0.8]}).assign(verdict=["yes", "yes", "no"]),
                        manifest([RESID], 0), "longer")
    extended = study_runs(headlines({"pareto_gated": [0.45, 0.55, 0.8, 0.9]}).assign(
        verdict=["yes", "yes", "no", "no"]), manifest([RESID], 0), "extended")
    seed1 = study_runs(headlines({"pareto_gated": [0.3]}).assign(verdict="yes", multiplier=4),
                       manifest([RESID], 1), "seed1")
    # another organism with the same SAE seed is another run, not a copy of seed1's
    organism1 = study_runs(headlines({"pareto_gated": [0.7]}).assign(verdict="yes", multiplier=4),
                           manifest([RESID], 1, organism_seed=1), "organism1")
    combined = combine_studies([main, longer, extended, seed1, organism1])
    assert len(combined) == 2 + 4 + 1 + 1  # 1x-4x of `longer` are `extended`'s, kept once
    assert set(combined.loc[combined["sites"] == RESID, "study"]) == {"longer", "extended", "seed1", "organism1"}
    assert combined.query("sae_seed == 0 and sites == @RESID")["multiplier"].tolist() == [1, 2, 4, 8]
    assert combined.query("sae_seed == 1")["organism_seed"].tolist() == [0, 1]
    # a reused length must be the same run: other numbers mean other SAEs
    other = extended.assign(value=extended["value"] + 0.01)
    with pytest.raises(ValueError, match=r"pareto_gated at 1x \(blocks.1.hook_resid_post, organism seed 0, "
                                         r"SAE seed 0\) "
                                         r"differs between the studies longer, extended"):
        combine_studies([longer, other])
    # the same seeds retrained on another CPU: another run, with its own numbers, kept beside
    elsewhere = study_runs(headlines({"pareto_gated": [0.82, 0.95]}).assign(verdict="no", multiplier=[8, 16]),
                           manifest([RESID], 0, cpu="AMD EPYC"), "elsewhere")
    assert elsewhere["cpu"].unique().tolist() == ["AMD EPYC (AVX512)"] and set(extended["cpu"]) == {"not recorded"}
    both = combine_studies([extended, elsewhere]).query("multiplier == 8")
    assert both.set_index("cpu")["value"].to_dict() == {"not recorded": 0.9, "AMD EPYC (AVX512)": 0.82}


def test_a_reused_length_keeps_the_cpu_of_the_study_that_trained_it():
    def study(values, multipliers, name, cpu=None, reuse=None):
        table = headlines({"pareto_gated": values}).assign(verdict="no", multiplier=multipliers)
        return study_runs(table, manifest([RESID], 1, organism_seed=1, cpu=cpu, workdir=f"work/{name}",
                                          reuse=reuse), name)

    # 32x and 64x on a CPU the manifests did not record; 128x on an AMD EPYC, reading 64x from
    # the study before it, which read 32x from the first
    first = study([0.31, 0.46], [32, 64], "first")
    second = study([0.31, 0.46], [32, 64], "second", reuse={"workdir": "work/first", "multipliers": [32]})
    third = study([0.46, 0.47], [64, 128], "third", cpu="AMD EPYC",
                  reuse={"workdir": "work/second", "multipliers": [64]})
    assert third["cpu"].unique().tolist() == ["AMD EPYC (AVX512)"]  # alone, the study labels every length
    combined = combine_studies([first, second, third])
    assert combined.groupby("cpu")["multiplier"].apply(list).to_dict() == {
        "not recorded": [32, 64], "AMD EPYC (AVX512)": [128]}
    # without the study it reads, a reused length keeps the reading study's label
    alone = combine_studies([third])
    assert alone.set_index("multiplier")["cpu"].to_dict() == {64: "AMD EPYC (AVX512)", 128: "AMD EPYC (AVX512)"}
    # the chain: 32x of the second study is the first's, through its reuse
    assert combine_studies([first.assign(cpu="Intel Xeon"), second]).set_index("multiplier")["cpu"].to_dict() == {
        32: "Intel Xeon", 64: "not recorded"}


def test_sae_studies_and_robustness_run_each_study_after_the_one_it_reads_and_the_report_reads_them_all():
    makefile = (REPO / "Makefile").read_text()
    studies = re.search(r"^SAE_STUDIES := (.+)$", makefile, re.MULTILINE).group(1).split()
    earlier = set()
    for study in studies:
        config = yaml.safe_load((REPO / "config" / f"{study}.yaml").read_text())
        assert (config["workdir"], config["resultsdir"]) == (f"work/{study}", f"results/{study}")
        reused = (config.get("reuse") or {}).get("workdir")
        assert reused is None or reused in earlier, f"{study} reads {reused} before it is made"
        earlier.add(config["workdir"])
    assert BASE["report"]["convergence"] == [f"results/{study}/headlines.csv" for study in studies]
    # make robustness runs the other organisms' studies in the same order, on the organisms
    # its own seeds train (work/seeds/seed-<N>, every seed N)
    robustness = re.search(r"^ROBUSTNESS_SAE_STUDIES := (.+)$", makefile, re.MULTILINE).group(1).split()
    assert robustness == [study for study in studies if study in robustness]
    organisms = set()
    for study in robustness:
        config = yaml.safe_load((REPO / "config" / f"{study}.yaml").read_text())
        seed = int(re.fullmatch(r"work/seeds/seed-(\d+)/results/model/checkpoint", config["checkpoint"]).group(1))
        overlays = [config["base"]] if isinstance(config["base"], str) else config["base"]
        assert overlays[-1] == f"config/organism-seed-{seed}.yaml"
        organisms.add(seed)
    seeds = yaml.safe_load((REPO / "config" / "seeds.yaml").read_text())["seeds"]
    assert organisms == set(seeds) - {0}  # seed 0's are the archived organism's studies


def test_the_archived_studies_that_extend_others_read_the_same_runs():
    from factlens.io import read_json

    folders = [(REPO / path).parent for path in BASE["report"]["convergence"]]
    combined = combine_studies([study_runs(pd.read_csv(f / "headlines.csv"), read_json(f / "MANIFEST.json"), f.name)
                                for f in folders])
    seeds = ["organism_seed", "sae_seed"]
    resid = combined[(combined["sites"] == RESID) & (combined["key"] == "pareto_gated")
                     & (combined["verdict"] != "not testable here")]
    # SAE seed 0 twice: to 32x on the CPU of the earlier archives, and at 32x and 64x on an AMD EPYC
    # (sae-convergence-64x, the first study whose manifest names its CPU); organism 1 to 64x on the
    # earlier CPU and on at 128x on an AMD EPYC (sae-convergence-organism1-128x, reading its 64x)
    assert resid.groupby([*seeds, "cpu"])["multiplier"].apply(list).to_dict() == {
        (0, 0, "AMD EPYC (AVX512)"): [32, 64], (0, 0, "not recorded"): [1, 2, 4, 8, 16, 32], (0, 1, "not recorded"): [8, 16, 32],
        (0, 2, "not recorded"): [16, 32, 64], (0, 3, "not recorded"): [16], (1, 1, "not recorded"): [16, 32, 64],
        (1, 1, "AMD EPYC (AVX512)"): [128], (2, 2, "not recorded"): [16, 32, 64]}
    # the 16x studies of SAE seeds 2 and 3 and of organisms 1 and 2 trained all four sweeps: the JumpReLU
    # claims read them too (seed 1's studies trained only the baseline and Gated sweeps: not testable there)
    jumprelu = combined[(combined["sites"] == RESID) & (combined["key"] == "jumprelu_vs_gated")
                        & combined["value"].notna()]
    assert jumprelu.groupby(seeds)["multiplier"].apply(list).to_dict() == {
        (0, 0): [1, 2, 4, 8, 16], (0, 2): [16], (0, 3): [16], (1, 1): [16], (2, 2): [16]}
    # the attribution check reran on the 16x-64x SAEs of four runs on the three organisms, and
    # on organism 1's at 128x on the AMD EPYC (sae-convergence-organism1-128x, whose 64x is
    # organism1-64x's: kept once, on that study's CPU)
    attribution = combined[combined["key"] == "attribution"]
    assert attribution.groupby(seeds)["multiplier"].apply(list).to_dict() == {
        (0, 0): [32, 64], (0, 2): [16, 32, 64], (1, 1): [16, 32, 64, 128], (2, 2): [16, 32, 64]}
    assert attribution.query("organism_seed == 1").set_index("multiplier")["cpu"].to_dict() == {
        16: "not recorded", 32: "not recorded", 64: "not recorded", 128: "AMD EPYC (AVX512)"}
    assert set(attribution["sites"]) == {f"blocks.0.mlp.hook_post -> {RESID}"}
    # both sites pooled and the residual site alone are different runs of a headline
    both = combined[(combined["sites"] == f"{RESID}, {MLP0}") & (combined["key"] == "jumprelu_vs_gated")]
    assert both["multiplier"].tolist() == [1, 2, 4, 8]
    assert not np.isclose(both["value"].iloc[0], combined.query(
        "sites == @RESID and key == 'jumprelu_vs_gated' and multiplier == 1")["value"].iloc[0])


def test_the_report_shows_each_sae_headline_at_every_training_length_site_set_and_seed():
    from factlens.claim import Claim
    from factlens.pipeline.report import render_report

    def claim(key, replicated=True):
        return Claim(key=key, title=key.upper(), source="s", table=pd.DataFrame({"x": [1]}),
                     replicated=replicated, summary="ok", rule="r")

    seed0 = study_runs(pd.concat([
        headlines({"pareto_gated": [0.40, 0.52, 0.9]}).assign(verdict=["yes", "yes", "no"]),
        headlines({"shrinkage": [0.74, 0.80]}, width=0).assign(verdict=["yes", "no"]),
        headlines({"jumprelu_vs_gated": [1.5]}).assign(verdict="no")]), manifest([RESID], 0), "long")
    seed1 = study_runs(pd.concat([
        headlines({"pareto_gated": [0.6]}).assign(verdict="yes", multiplier=4),
        headlines({"jumprelu_vs_gated": [np.nan]}).assign(verdict="not testable here", multiplier=4)]),
        manifest([RESID], 1), "seed1")
    claims = [claim("pareto_gated"), claim("shrinkage"), claim("jumprelu_vs_gated", False), claim("probes", False)]
    text = render_report(claims, pd.DataFrame({"m": [1]}), "organism", False,
                         convergence=(combine_studies([seed0, seed1]),
                                      {"long": "../long/CONVERGENCE.md", "seed1": "../seed1/CONVERGENCE.md"},
                                      614400.0))
    assert "## How far the SAEs are from convergence" in text
    assert "This run's SAEs train on 0.61M tokens each" in text
    assert "([long](../long/CONVERGENCE.md), [seed1](../seed1/CONVERGENCE.md))" in text
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| pareto_gated ")
            or line.startswith("| shrinkage ") or line.startswith("| jumprelu_vs_gated ")]
    cells = [[cell.strip() for cell in row] for row in rows]
    assert cells == [
        ["pareto_gated", RESID, "0", "0", "0.4 [0.35, 0.45] (yes)", "0.52 [0.47, 0.57] (yes)", "0.9 [0.85, 0.95] (no)"],
        ["pareto_gated", RESID, "0", "1", "", "", "0.6 [0.55, 0.65] (yes)"],
        ["shrinkage", RESID, "0", "0", "0.74 (yes)", "0.8 (no)", ""],
        ["jumprelu_vs_gated", RESID, "0", "0", "1.5 [1.45, 1.55] (no)", "", ""]]  # seed 1's untestable row dropped
    header = next(line for line in text.splitlines() if line.startswith("| claim ") and "SAE seed" in line)
    assert [cell.strip() for cell in header.split("|")[1:-1]] == ["claim", "sites", "organism seed", "SAE seed",
                                                                  "1x", "2x", "4x"]
    # the summary: each SAE claim's verdict at each seed's longest length testing it, counted over seeds
    assert "| claim | source | replicated | at the longest SAE training |" in text
    assert "| [PARETO_GATED](#pareto_gated) | s | yes | 1 of 2 SAE seeds (4x) |" in text
    assert "| [SHRINKAGE](#shrinkage) | s | yes | **no** (2x) |" in text
    assert "| [JUMPRELU_VS_GATED](#jumprelu_vs_gated) | s | **no** | **no** (1x) |" in text
    assert "| [PROBES](#probes) | s | **no** | - |" in text
    both_fail = combine_studies([seed0, seed1.assign(verdict="no")])
    text = render_report(claims, pd.DataFrame({"m": [1]}), "organism", False,
                         convergence=(both_fail, {"long": "a", "seed1": "b"}, 614400.0))
    assert "| [PARETO_GATED](#pareto_gated) | s | yes | **no** (4x, 2 SAE seeds) |" in text
    # each seed at its own longest length: seed 1 trained to 8x counts there, seed 0 at 4x
    seed1_longer = combine_studies([seed0, seed1.assign(verdict="no", multiplier=8)])
    text = render_report(claims, pd.DataFrame({"m": [1]}), "organism", False,
                         convergence=(seed1_longer, {"long": "a", "seed1": "b"}, 614400.0))
    assert "| [PARETO_GATED](#pareto_gated) | s | yes | **no** (4x-8x, 2 SAE seeds) |" in text
    assert "| [SHRINKAGE](#shrinkage) | s | yes | **no** (2x) |" in text
    # a second organism counts as its own run, even with an SAE seed the first one has
    organism1 = study_runs(headlines({"pareto_gated": [0.95]}).assign(verdict="no", multiplier=4),
                           manifest([RESID], 1, organism_seed=1), "organism1")
    for verdict, summary in (("no", "**no** (4x-8x, 3 runs on 2 organisms)"),
                             ("yes", "1 of 3 runs on 2 organisms (4x-8x)")):
        text = render_report(claims, pd.DataFrame({"m": [1]}), "organism", False, convergence=(
            combine_studies([seed0, seed1.assign(verdict="no", multiplier=8), organism1.assign(verdict=verdict)]),
            {"long": "a", "seed1": "b", "organism1": "c"}, 614400.0))
        assert f"| [PARETO_GATED](#pareto_gated) | s | yes | {summary} |" in text
    # seed 0 retrained on another CPU, to a longer length: its own row, named by a CPU column;
    # the summary reads each run at its longest length, whichever CPU reached it
    elsewhere = study_runs(headlines({"pareto_gated": [0.85]}).assign(verdict="no", multiplier=8),
                           manifest([RESID], 0, cpu="AMD EPYC"), "elsewhere")
    text = render_report(claims, pd.DataFrame({"m": [1]}), "organism", False, convergence=(
        combine_studies([seed0, elsewhere, seed1]), {"long": "a", "elsewhere": "c", "seed1": "b"}, 614400.0))
    assert "CPU: the machine that archived the study" in text
    cells = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines()
             if line.startswith("| pareto_gated ")]
    assert cells == [
        ["pareto_gated", RESID, "0", "0", "not recorded", "0.4 [0.35, 0.45] (yes)", "0.52 [0.47, 0.57] (yes)",
         "0.9 [0.85, 0.95] (no)", ""],
        ["pareto_gated", RESID, "0", "0", "AMD EPYC (AVX512)", "", "", "", "0.85 [0.8, 0.9] (no)"],
        ["pareto_gated", RESID, "0", "1", "not recorded", "", "", "0.6 [0.55, 0.65] (yes)", ""]]
    assert "| [PARETO_GATED](#pareto_gated) | s | yes | 1 of 2 SAE seeds (4x-8x) |" in text
    assert "convergence" not in render_report(claims, pd.DataFrame({"m": [1]}), "organism", False)


def test_a_run_headline_reads_only_the_studied_sites():
    """The 1x run is the whole default, with more sites than a study of one: its headline
    must be the extreme over the studied sites only, as every longer run's is."""
    from factlens.sae.convergence import run_headlines, run_tables

    saes = REPO / "results" / "default" / "saes"
    tables = run_tables(saes)
    equal_l0 = pd.read_csv(saes / "at_equal_l0.csv")
    pairs = equal_l0[(equal_l0["architecture"] == "jumprelu") & (equal_l0["reference"] == "gated")]
    for hooks in (["blocks.1.hook_resid_post"], ["blocks.0.hook_mlp_out"],
                  ["blocks.1.hook_resid_post", "blocks.0.hook_mlp_out"]):
        headline = run_headlines(tables, hooks).set_index("key").loc["jumprelu_vs_gated"]
        expected = pairs.loc[pairs["hook_name"].isin(hooks), "delta_lm_loss_ratio"].max()
        assert headline["value"] == pytest.approx(expected)
    # the two sites disagree, so the filter is what decides
    assert pairs.groupby("hook_name")["delta_lm_loss_ratio"].max().nunique() == 2


def test_a_runs_attribution_headlines_are_its_claims_with_their_bootstrap_intervals(tmp_path):
    """The archived default as a 1x run: the attribution headlines are the report's verdicts
    and numbers, and the paper claim's interval is the comparison table's for IG(128)
    through the JumpReLU summed over the latents."""
    from factlens.attribution.claims import attribution_headlines
    from factlens.sae.convergence import run_tables

    results = REPO / "results" / "default"
    headlines = attribution_headlines(run_tables(results / "saes", attribution=True)).set_index("key")
    keys = ["attribution", "attribution_jump_term", "attribution_exact_step"]
    verdicts = pd.read_csv(results / "report" / "verdicts.csv").set_index("key").loc[keys]
    assert list(headlines.index) == keys
    assert headlines["value"].to_numpy() == pytest.approx(verdicts["value"].to_numpy(), rel=1e-5)
    assert (headlines["verdict"] == verdicts["verdict"]).all()
    comparison = pd.read_csv(results / "attribution" / "comparison.csv")
    row = comparison.query("stratum == 'all' and downstream == 'JumpReLU' and scope == 'total' "
                           "and method == 'ig128'").iloc[0]
    assert headlines.loc["attribution", ["low", "high"]].to_numpy(dtype=float) == pytest.approx(
        [row["relative_mae_low"], row["relative_mae_high"]])
    assert (headlines["low"] <= headlines["value"]).all() and (headlines["value"] <= headlines["high"]).all()
    # a run without the attribution check cannot stand in for one with it
    shutil.copytree(results / "saes", tmp_path / "saes", ignore=shutil.ignore_patterns("blocks.*"))
    assert run_tables(tmp_path / "saes")["sweep"].equals(pd.read_csv(results / "saes" / "sweep.csv"))
    with pytest.raises(FileNotFoundError, match="attribution/comparison.csv"):
        run_tables(tmp_path / "saes", attribution=True)


def test_a_studys_attribution_rows_are_labelled_with_the_path_they_read():
    study = manifest([RESID], 2, organism_seed=2)
    study["config"]["base"]["attribution"] = {"upstream": {"hook": "blocks.0.mlp.hook_post"},
                                              "downstream": {"hook": RESID}}
    rows = study_runs(headlines({"pareto_gated": [0.6], "attribution": [0.3]}).assign(verdict="yes"), study, "s")
    assert rows.set_index("key")["sites"].to_dict() == {
        "pareto_gated": RESID, "attribution": f"blocks.0.mlp.hook_post -> {RESID}"}


def test_the_aggregate_pools_sites_into_each_headline_and_keeps_each_site_alone(tmp_path):
    """Two identical 'lengths' (the archived default twice): each pooled headline is the
    largest of the sites' own, nothing moves between them, and the sweep gains the dense
    share of latents."""
    import argparse

    from factlens.pipeline.stages import aggregate_convergence

    saes = REPO / "results" / "default" / "saes"
    hooks = ["blocks.1.hook_resid_post", "blocks.0.hook_mlp_out"]
    out = {name: tmp_path / name for name in ("sweep.csv", "headlines.csv", "by_site.csv", "doubling.csv",
                                              "CONVERGENCE.md", "convergence.png")}
    aggregate_convergence.run(argparse.Namespace(
        runs=[f"1={saes}", f"2={saes}"], hooks=hooks, attribution=True, sweep=out["sweep.csv"],
        headlines=out["headlines.csv"],
        by_site=out["by_site.csv"], shifts=out["doubling.csv"], markdown=out["CONVERGENCE.md"],
        figure=out["convergence.png"], setup="SAE seed 7 instead of 0",
        organism="the organism in work/seeds/seed-7/checkpoint (not archived)"))
    headlines, by_site = pd.read_csv(out["headlines.csv"]), pd.read_csv(out["by_site.csv"])
    assert set(by_site["hook_name"]) == set(hooks)
    for key in ("pareto_gated", "pareto_jumprelu", "jumprelu_vs_gated", "jumprelu_vs_topk"):
        pooled = headlines.loc[headlines["key"] == key, "value"]
        assert pooled.to_numpy() == pytest.approx([by_site.loc[by_site["key"] == key, "value"].max()] * 2)
    # the attribution claims are headlines of the whole run, with no per-site rows
    assert set(headlines["key"]) >= {"attribution", "attribution_jump_term", "attribution_exact_step"}
    assert not by_site["key"].str.startswith("attribution").any()
    shifts = pd.read_csv(out["doubling.csv"])
    assert (shifts["shift"] == 0).all() and "attribution" in set(shifts["key"])
    sweep = pd.read_csv(out["sweep.csv"])
    default = pd.read_csv(saes / "sweep.csv")
    assert len(sweep) == 2 * default["hook_name"].isin(hooks).sum()
    assert sweep["dense_fraction"].to_numpy() == pytest.approx((sweep["dense_latents"] / sweep["d_sae"]).to_numpy(),
                                                             rel=1e-5)
    assert sweep["dense_fraction"].max() > 0
    text = out["CONVERGENCE.md"].read_text()
    assert ("with the organism in work/seeds/seed-7/checkpoint (not archived); SAE seed 7 instead of 0 "
            "(factlens.sae.convergence)") in text
    assert "## Each site alone" in text and "| pareto_gated      | blocks.0.hook_mlp_out" in text
    assert "The attribution claims are rerun on each length's SAEs" in text
    assert out["convergence.png"].stat().st_size > 10_000 and (tmp_path / "convergence.pdf").exists()


def test_a_single_length_is_not_called_unconverged():
    """A run of one length (a check at 8x with another seed) measures no doubling, so its
    summary must not claim anything about convergence."""
    from factlens.pipeline.stages.aggregate_convergence import convergence_verdict

    single = doubling_shifts(headlines({"pareto_gated": [0.7]}).assign(multiplier=8))
    assert single.empty
    assert convergence_verdict(single, converged_multiplier(single), 8).startswith("**No doubling measured")
    moving = doubling_shifts(headlines({"pareto_gated": [0.40, 0.42, 0.44, 0.60]}))
    assert convergence_verdict(moving, converged_multiplier(moving), 8).startswith("**Not converged within 8x")
    settled = doubling_shifts(headlines({"pareto_gated": [0.40, 0.41, 0.41, 0.41]}))
    assert convergence_verdict(settled, converged_multiplier(settled), 8).startswith("**Converged length:** from 1x")


@pytest.mark.parametrize("seed", [1, 2])
def test_the_organism_overlays_set_every_seed_as_make_robustness_does(seed):
    """config/organism-seed-<N>.yaml must give the run `make robustness` makes for seed N
    (its organism is the one work/seeds/seed-N holds), apart from the folders and the
    report's reading of other runs."""
    from factlens.pipeline.seeds import base_config, seeded_config

    overlay = base_config([str(REPO / "config" / f"organism-seed-{seed}.yaml")],
                          workflow_config=str(REPO / "config" / "config.yaml"))
    robustness = seeded_config(base_config([], workflow_config=str(REPO / "config" / "config.yaml")), seed, "w", "r")
    for config in (overlay, robustness):
        for key in ("workdir", "resultsdir", "report"):
            config.pop(key)
    assert overlay == robustness
    assert overlay["model"]["organism"]["seed"] == overlay["world"]["seed"] == seed
