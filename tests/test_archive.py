"""The manifest (hashes, job times, code hashes), drift detection, marking a verified
archive up to date, and the report's verdict rules on hand-made tables."""

import hashlib
import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from factlens.pipeline.archive import build_manifest, compare, cpu_model, job_times, mark_up_to_date
from factlens.attribution.methods import compare_methods
from factlens.blocks import residual_hooks
from factlens.attribution.claims import attribution_claims
from factlens.facts.claims import localisation_claims
from factlens.sae.claims import faithfulness_claims, sae_claims
from factlens.illusion.claims import editing_claim, family_claim, illusion_claim
from factlens.pipeline.stages.verify import read_manifest


@pytest.fixture
def archive(tmp_path):
    """A repository-like folder: results, benchmarks and a package with one module."""
    results = tmp_path / "results"
    (results / "saes").mkdir(parents=True)
    (results / "saes" / "sweep.csv").write_text("l0,fvu\n1,0.5\n")
    (results / "figure.png").write_bytes(b"\x89PNG fake")
    (results / "metrics.json").write_text('{"l0": 1}\n')
    benchmarks = tmp_path / "benchmarks"
    (benchmarks / "train_sae" / "hook").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (benchmarks / "train_model.tsv").write_text(header + "10.5\t0:00:10\t500.2\t1\t1\t1\t0\t0\t1\t9\n")
    (benchmarks / "train_sae" / "hook" / "a.tsv").write_text(header + "2.25\t0:00:02\t-\t-\t-\t-\t-\t-\t-\t-\n")
    (benchmarks / "train_sae" / "hook" / "b.tsv").write_text(header + "3.0\t0:00:03\t100\t1\t1\t1\t0\t0\t1\t2\n")
    package = tmp_path / "src" / "factlens"
    package.mkdir(parents=True)
    (package / "report.py").write_text("x = 1\n")
    files = [str(p) for p in sorted(results.rglob("*")) if p.is_file()]
    manifest = build_manifest(files, results, {"seed": 0}, benchmarks, tmp_path, package)
    return tmp_path, manifest


def test_manifest_hashes_every_file_and_sums_job_times(archive):
    root, manifest = archive
    table = root / "results" / "saes" / "sweep.csv"
    assert manifest["files"]["saes/sweep.csv"] == {
        "sha256": hashlib.sha256(table.read_bytes()).hexdigest(), "bytes": table.stat().st_size,
        "kind": "table"}
    assert manifest["files"]["figure.png"]["kind"] == "figure"
    assert manifest["files"]["metrics.json"]["kind"] == "metrics"
    assert manifest["rules"] == {"train_model": {"jobs": 1, "wall_s": 10.5},
                                 "train_sae": {"jobs": 2, "wall_s": 5.25}}
    assert manifest["total_job_wall_s"] == 15.75
    assert {job["job"]: job["max_rss_mb"] for job in manifest["jobs"]} == {
        "train_model": 500.2, "train_sae/hook/a": None, "train_sae/hook/b": 100.0}
    assert manifest["code"] == {"src/factlens/report.py": hashlib.sha256(b"x = 1\n").hexdigest()}
    assert manifest["config"] == {"seed": 0} and manifest["packages"]["torch"]
    assert "same kind of machine" in manifest["reproducibility"]
    assert manifest["machine"]["cpu_capability"] in {"DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "SVE256"}


def test_cpu_model_is_read_from_cpuinfo_with_a_fallback(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC 9R14\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 9R14"
    monkeypatch.setattr("platform.processor", lambda: "arm")
    assert cpu_model(tmp_path / "missing") == "arm"
    monkeypatch.setattr("platform.processor", lambda: "")
    assert cpu_model(tmp_path / "missing") is None


def test_compare_finds_changed_missing_and_edited_code(archive):
    root, manifest = archive
    results = root / "results"
    assert set(compare(manifest, results, root)["status"]) == {"ok"}
    (results / "saes" / "sweep.csv").write_text("l0,fvu\n1,0.6\n")
    (results / "figure.png").unlink()
    (root / "src" / "factlens" / "report.py").write_text("x = 2\n")
    (root / "src" / "factlens" / "new.py").write_text("")
    status = compare(manifest, results, root).set_index("path")["status"].to_dict()
    assert status == {"saes/sweep.csv": "changed", "figure.png": "missing", "metrics.json": "ok",
                      "src/factlens/report.py": "changed", "src/factlens/new.py": "new"}


def test_marking_up_to_date_makes_results_newer_than_code_and_edited_code_newest(archive):
    root, manifest = archive
    results = root / "results"
    for path in results.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    (root / "src" / "factlens" / "report.py").write_text("x = 2\n")
    changed = mark_up_to_date(compare(manifest, results, root), results, root)
    assert changed == ["src/factlens/report.py"]
    times = {p.stat().st_mtime for p in results.rglob("*") if p.is_file()}
    assert len(times) == 1 and times.pop() > 1_000_000
    assert (root / "src" / "factlens" / "report.py").stat().st_mtime > (results / "metrics.json").stat().st_mtime


def test_job_times_of_an_empty_folder(tmp_path):
    assert job_times(tmp_path).empty


def test_job_times_of_several_folders_and_a_file_are_named_from_their_common_folder(tmp_path):
    def benchmark(path, seconds):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:01\t12.5\n")
    benchmark(tmp_path / "seed-1" / "benchmarks" / "train_model.tsv", 3.0)
    benchmark(tmp_path / "seed-2" / "benchmarks" / "train_sae" / "a.tsv", 2.0)
    benchmark(tmp_path / "benchmarks" / "aggregate_seeds.tsv", 1.0)
    benchmark(tmp_path / "benchmarks" / "aggregate_organism.tsv", 9.0)  # another target's: left out
    times = job_times([tmp_path / "seed-1" / "benchmarks", tmp_path / "seed-2" / "benchmarks",
                       tmp_path / "benchmarks" / "aggregate_seeds.tsv"])
    assert dict(zip(times["job"], times["wall_s"])) == {
        "benchmarks/aggregate_seeds": 1.0, "seed-1/benchmarks/train_model": 3.0,
        "seed-2/benchmarks/train_sae/a": 2.0}
    # one folder: jobs named inside it, as the default run's manifest has them
    assert list(job_times(tmp_path / "seed-2" / "benchmarks")["job"]) == ["train_sae/a"]


def test_the_committed_manifest_is_read_from_git(tmp_path):
    def git(*arguments):
        subprocess.run(["git", "-C", str(tmp_path), *arguments], check=True, capture_output=True)
    git("init", "-q")
    manifest = tmp_path / "results" / "MANIFEST.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"files": {"a.csv": {"sha256": "1" * 64}}}))
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "archive")
    manifest.write_text(json.dumps({"files": {}}))  # a later run rewrote it
    assert read_manifest(manifest, "HEAD")["files"] == {"a.csv": {"sha256": "1" * 64}}
    assert read_manifest(manifest, None)["files"] == {}
    with pytest.raises(FileNotFoundError, match="at git revision nosuchref"):
        read_manifest(manifest, "nosuchref")


def patching_table(lookup_hook: str, restored: float, gather: float = 0.4, move: float = 0.6,
                   parallel: bool = True) -> pd.DataFrame:
    """4 layers: every component restores 5% but the lookup, attention 0 carries the first
    name (`gather`) and attention 3 the sport to the final token (`move`)."""
    rows = [{"hook": f"blocks.{layer}.hook_{kind}_out", "position": position, "family": "component",
             "restored_mean": move if (layer, kind, position) == (3, "attn", "of") else 0.05}
            for layer in range(4) for kind in ("attn", "mlp") for position in ("final name token", "of")]
    rows += [{"hook": f"blocks.{layer}.hook_{kind}_out", "position": "final name token",
              "family": "first-name swap", "restored_mean": gather if (layer, kind) == (0, "attn") else 0.05}
             for layer in range(4) for kind in ("attn", "mlp")]
    rows += [{"hook": hook, "position": "final name token", "family": "residual", "restored_mean": 0.5}
             for hook in residual_hooks(4, parallel)]
    frame = pd.DataFrame(rows)
    frame.loc[(frame.hook == lookup_hook) & (frame.position == "final name token")
              & (frame.family == "component"), "restored_mean"] = restored
    return frame


PROBES = pd.DataFrame({"layer": [0, 1, 0, 1, 1], "site": ["embed", "resid_post 0"] * 2 + ["resid_post 0"],
                       "hook": ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post"] * 2
                       + ["blocks.0.hook_resid_post"],
                       "position": ["final name token"] * 2 + ["final token"] * 2 + ["final name token"],
                       "regularisation": [1.0, 1.0, 1.0, 1.0, 0.1],
                       "selected": [True, True, True, True, False],
                       "train_accuracy": [0.7, 0.95, 0.4, 0.99, 0.9],
                       "test_accuracy": [0.5, 0.85, 0.3, 0.97, 0.99],
                       "train_athletes": 300, "test_athletes": 100})


@pytest.mark.parametrize("hook, restored, gather, move, parallel, replicated", [
    ("blocks.1.hook_mlp_out", 0.5, 0.4, 0.6, True, True),    # gather, an early MLP looks up, move
    ("blocks.0.hook_mlp_out", 0.5, 0.4, 0.6, True, False),   # MLP0 of a parallel block sees one token
    ("blocks.0.hook_mlp_out", 0.5, 0.4, 0.6, False, True),   # MLP0 of a sequential block reads attention 0
    ("blocks.3.hook_mlp_out", 0.5, 0.4, 0.6, True, False),   # the last layer is not early-to-middle
    ("blocks.0.hook_attn_out", 0.5, 0.4, 0.6, True, False),  # attention, not an MLP
    ("blocks.1.hook_mlp_out", 0.2, 0.4, 0.6, True, False),   # too weak to be the lookup
    ("blocks.2.hook_mlp_out", 0.5, 0.1, 0.6, True, False),   # nothing carries the first name to the name's end
    ("blocks.1.hook_mlp_out", 0.5, 0.4, 0.1, True, False),   # nothing moves the sport to the final token
])
def test_localisation_verdict(hook, restored, gather, move, parallel, replicated):
    lookup, probe = localisation_claims(patching_table(hook, restored, gather, move, parallel), PROBES, "of")
    assert lookup.replicated is replicated
    # 85% is within 10 points of the paper's 90%; the unselected C's 99% is not used
    assert probe.replicated
    assert "85.0% at resid_post 0" in probe.table.loc[0, "ours"]
    assert probe.table.loc[2, "ours"] == "97.0%"  # the final-token positive control


def test_the_lookup_row_shows_the_probe_around_the_mlp():
    lookup, _ = localisation_claims(patching_table("blocks.1.hook_mlp_out", 0.5), PROBES, "of")
    row = lookup.table.set_index("measure").loc[
        "held-out sport probe at the final name token around the strongest reading MLP", "ours"]
    assert row == "85.0% before MLP1, - after it"  # resid_post 0 is MLP1's input in a parallel block


def sweep_tables(gated_l0: float, baseline_gammas=(0.9, 0.8), gated_gammas=(1.0, 0.99),
                 interval=(None, None)):
    sweep = pd.DataFrame({"hook_name": "h", "architecture": ["standard"] * 2 + ["gated"] * 2,
                          "sparsity_coefficient": [0.1, 0.4, 0.2, 0.8],
                          "shrinkage_gamma": [*baseline_gammas, *gated_gammas],
                          "ce_clean": 1.0, "ce_zero_ablation": 3.5})
    ratio = gated_l0 / 20
    low, high = (ratio - 0.02 if interval[0] is None else interval[0],
                 ratio + 0.02 if interval[1] is None else interval[1])
    equal = pd.DataFrame({"hook_name": "h", "architecture": "gated", "loss_recovered": [0.9, 0.95],
                          "l0_needed": [gated_l0 * 0.8, gated_l0], "l0_baseline": [16.0, 20.0],
                          "l0_ratio_to_baseline": ratio, "ratio_low": low, "ratio_high": high,
                          "resamples_in_range": 1.0})
    return sweep, equal


def test_sae_verdicts():
    gated, jumprelu, shrinkage = sae_claims(*sweep_tables(gated_l0=10.0))
    assert gated.replicated and "0.5x-0.5x" in gated.summary and "not settled" not in gated.summary
    assert "h 0.5x-0.5x (intervals 0.48x-0.52x; zero ablation costs 2.5 nats)" in gated.summary
    assert gated.table["95% interval"].tolist() == ["[0.48, 0.52]"] * 2
    assert jumprelu.verdict == "not testable here" and len(jumprelu.table) == 0  # not in this sweep
    assert shrinkage.replicated
    assert (gated.line, gated.passes) == (0.75, "below") and gated.value <= gated.line
    assert (shrinkage.line, shrinkage.passes) == (1.0, "below")
    assert not sae_claims(*sweep_tables(gated_l0=19.0))[0].replicated
    assert not sae_claims(*sweep_tables(10.0, baseline_gammas=(0.8, 0.9)))[2].replicated  # rising
    assert not sae_claims(*sweep_tables(10.0, gated_gammas=(0.9, 0.8)))[2].replicated
    # one baseline coefficient (whether gamma falls with lambda is unknown) or no Gated SAE:
    # not testable, and no headline that a full sweep's could be compared with
    sweep, equal = sweep_tables(10.0)
    for part in (sweep.drop(index=0), sweep[sweep.architecture == "standard"]):
        untestable = sae_claims(part, equal)[2]
        assert untestable.verdict == "not testable here" and np.isnan(untestable.value)
        assert untestable.summary.startswith("Not testable here")
    # an interval reaching across the 0.75 threshold leaves the verdict unsettled, either way
    assert "not settled" in sae_claims(*sweep_tables(10.0, interval=(0.4, 0.8)))[0].summary
    unsettled_no = sae_claims(*sweep_tables(16.0, interval=(0.7, 0.9)))[0]
    assert not unsettled_no.replicated and "not settled" in unsettled_no.summary


def equal_l0_table(gated_ratios, topk_ratios, spread=0.05):
    """JumpReLU's delta LM loss ratios to Gated's and TopK's at matched L0 levels."""
    rows = []
    for reference, ratios in (("gated", gated_ratios), ("topk", topk_ratios)):
        for level, ratio in zip((4.0, 8.0), ratios):
            rows.append({"hook_name": "h", "architecture": "jumprelu", "reference": reference, "l0": level,
                         "delta_lm_loss": 0.1 * ratio, "delta_lm_loss_reference": 0.1,
                         "delta_lm_loss_ratio": ratio, "delta_lm_loss_ratio_low": ratio - spread,
                         "delta_lm_loss_ratio_high": ratio + spread, "fvu": 0.09, "fvu_reference": 0.1,
                         "fvu_ratio": 0.9, "fvu_ratio_low": 0.85, "fvu_ratio_high": 0.95,
                         "resamples_in_range": 1.0})
    return pd.DataFrame(rows)


def test_faithfulness_verdicts_at_equal_l0():
    gated, topk = faithfulness_claims(equal_l0_table((0.8, 1.08), (0.9, 1.2)))
    assert (gated.key, topk.key) == ("jumprelu_vs_gated", "jumprelu_vs_topk")
    assert (gated.value_low, gated.value_high) == pytest.approx((1.03, 1.13))  # the worst level's interval
    assert (topk.value_low, topk.value_high) == pytest.approx((1.15, 1.25))
    assert gated.replicated and gated.value == pytest.approx(1.08) and (gated.line, gated.passes) == (1.1, "below")
    assert "0.8x-1.08x Gated's" in gated.summary and "not settled" in gated.summary  # 1.08 + 0.05 crosses 1.1
    assert topk.replicated and topk.value == pytest.approx(1.2) and topk.line == 1.25
    assert "not settled" not in topk.summary  # [0.85, 1.25] stays inside [0.8, 1.25]
    assert gated.table["ratio"].tolist() == ["0.8", "1.08"] and gated.table["FVU ratio"].tolist() == ["0.9"] * 2
    # JumpReLU worse than Gated by 30% at one level; TopK half as lossy (a factor 2 apart)
    gated, topk = faithfulness_claims(equal_l0_table((0.9, 1.3), (2.0, 1.0), spread=0.01))
    assert not gated.replicated and not topk.replicated and topk.value == pytest.approx(2.0)
    assert "not settled" not in topk.summary
    # a factor below 1 counts as much as above: 0.5 is as far from "about as faithful" as 2
    below = faithfulness_claims(equal_l0_table((0.9, 0.9), (0.5, 1.0)))[1]
    assert below.value == pytest.approx(2.0)
    assert (below.value_low, below.value_high) == pytest.approx((1 / 0.55, 1 / 0.45))  # inverted with it
    # no common L0: not testable
    empty = faithfulness_claims(equal_l0_table((0.9,), (1.0,)).iloc[0:0])
    assert [claim.verdict for claim in empty] == ["not testable here"] * 2
    assert list(empty[0].table.columns)[:4] == ["hook", "L0", "delta LM loss JumpReLU / Gated", "ratio"]
    assert "not settled" not in sae_claims(*sweep_tables(19.0))[0].summary


def das_summary(role: str, hook: str, verdict: str, fldd_v: float, v_row: float, whole: float,
                position: str = "final name token", **extra) -> dict:
    return {"hook": hook, "position": position, "role": role, "direction": "DAS", "verdict": verdict,
            "fldd_whole": whole, "fldd_v": fldd_v, "fldd_v_row": v_row, "fldd_v_null": 0.0,
            "interchange_v": 0.1, "fldd_edit": fldd_v, "edit_patch_agreement": 0.95, **extra}


def role_summary(off_verdict="illusory", negative_verdict="no effect", off_v_row=0.1):
    return pd.DataFrame([
        das_summary("off-circuit", "blocks.2.mlp.hook_post", off_verdict, 0.5, off_v_row, 0.02,
                    restarts=3, fldd_v_mean=0.45, fldd_v_sd=0.05, restart_verdicts="illusory"),
        das_summary("residual after the off-circuit MLP", "blocks.2.hook_resid_post", "not illusory",
                    0.4, 0.4, 0.37),
        das_summary("on-circuit", "blocks.0.mlp.hook_post", "not illusory", 0.1, 0.09, 0.11),
        das_summary("negative control", "blocks.0.mlp.hook_post", negative_verdict, 0.0, 0.0, 0.0,
                    position="final token")])


def role_sites(summary):
    return summary[["role", "hook", "position"]]


def test_illusion_verdict_needs_the_off_circuit_illusion_and_a_passing_negative_control():
    summary = role_summary()
    claim = illusion_claim(summary, role_sites(summary))
    assert claim.replicated and "v_row alone 10.0%" in claim.summary
    # the headline is the number the verdict's decisive line is drawn on: v_row's share of v
    assert (claim.value, claim.line, claim.passes) == (pytest.approx(0.1 / 0.5), 0.5, "below")
    table = claim.table.set_index(["role", "patch"])
    assert table.loc[("off-circuit", "DAS: v"), "FLDD (paper)"] == "46.7%"
    assert table.loc[("off-circuit", "full component"), "FLDD (paper)"] == "-8.0%"
    assert table.loc[("on-circuit", "DAS: v"), "FLDD (paper)"] == "-"  # MLP8 is the off-circuit site
    assert table.loc[("off-circuit", "DAS v over 3 restarts"), "FLDD (ours)"] == "45.0% ± 5.0%"
    assert "directions/blocks.2.mlp.hook_post/final_name_token/illusion.png" in claim.figures
    assert not illusion_claim(role_summary(off_verdict="not illusory", off_v_row=0.45), role_sites(summary)).replicated
    failed_control = illusion_claim(role_summary(negative_verdict="not illusory"), role_sites(summary))
    assert not failed_control.replicated and "negative control did not pass" in failed_control.summary


def test_illusion_claim_without_an_off_circuit_site():
    summary = role_summary().iloc[2:]
    claim = illusion_claim(summary, role_sites(summary))
    assert not claim.replicated and "No MLP of this model qualifies" in claim.summary
    assert claim.verdict == "not testable here"
    assert editing_claim(summary).verdict == "not testable here"
    assert illusion_claim(role_summary(), role_sites(role_summary())).verdict == "yes"


def test_family_and_editing_claims():
    rates = pd.DataFrame({"direction": ["DAS", "best neuron", "best SAE latent"], "checks": 4,
                          "with effect": [2, 1, 1], "illusory": [1, 0, 0],
                          "illusory fraction": [0.25, 0.0, 0.0],
                          "illusory fraction of effective": [0.5, 0.0, 0.0]})
    assert family_claim(rates).replicated
    assert not family_claim(rates.assign(**{"illusory fraction": [0.25, 0.25, 0.0]})).replicated
    nothing = family_claim(rates.assign(illusory=0, **{"illusory fraction": 0.0}))
    assert nothing.verdict == "not testable here" and "cannot be measured" in nothing.summary
    edit = editing_claim(role_summary())
    assert edit.replicated and len(edit.table) == 3  # the three MLP checks
    assert not editing_claim(role_summary().assign(edit_patch_agreement=0.6)).replicated


@pytest.mark.parametrize("jump_ig, repaired, verdicts", [
    (0.73, 0.17, ("yes", "yes", "no")),  # blind spot; the jump term repairs it, the "step" does not
    (0.05, 0.01, ("no", "not testable here", "not testable here")),  # no blind spot to repair
    (0.73, 0.6, ("yes", "no", "no"))])
def test_attribution_verdicts_keep_the_published_claim_apart_from_ours(jump_ig, repaired, verdicts):
    """Per-pair totals with known relative errors; the comparison table is computed from
    them as the stage does, and the verdict follows the rule."""
    generator = np.random.default_rng(0)
    ap = generator.uniform(1, 2, 64)
    sign = np.where(generator.uniform(size=64) < 0.5, -1.0, 1.0)
    frames = [pd.DataFrame({"downstream": down, "pair": range(64), "ap": ap, "crossings": 1,
                            **{method: ap + sign * error * ap for method, error in errors.items()}})
              for down, errors in {"ReLU": {"ig128": 0.003, "ig128_jump": 0.003, "ig128_step": 0.003},
                                   "JumpReLU": {"ig128": jump_ig, "ig128_jump": repaired,
                                                "ig128_step": jump_ig * 0.9}}.items()]
    totals = pd.concat(frames, ignore_index=True)
    comparison = pd.concat([compare_methods(part, ["ig128", "ig128_jump", "ig128_step"], top_k=1)
                            .assign(scope="total", downstream=down)
                            for down, part in totals.groupby("downstream")])
    claims = attribution_claims(comparison, totals)
    assert [c.key for c in claims] == ["attribution", "attribution_jump_term", "attribution_exact_step"]
    assert tuple(c.verdict for c in claims) == verdicts
    assert [c.source.startswith("ours") for c in claims] == [False, True, True]
    claim = claims[1]
    ours = claim.table.set_index(["downstream", "estimate"])["relative error (ours)"]
    assert ours["JumpReLU", "sum over all latents: IG(128)"] == f"{jump_ig:.2g}"
    # errors proportional to |AP| make every bootstrap resample give the same ratio
    assert f"leaves {100 * repaired / jump_ig:.1f}% of IG(128)'s error" in claim.summary
    assert f"(95% interval {100 * repaired / jump_ig:.1f}%-" in claim.summary
    assert ("not settled" in claims[0].summary) is False


def test_compare_names_every_verdict_that_differs_from_the_archive(tmp_path, capsys):
    from factlens.pipeline.cli import main

    archived = pd.DataFrame({"key": ["localisation", "probes", "illusion"], "title": ["L", "P", "I"],
                             "verdict": ["yes", "yes", "not testable here"], "metric": "m",
                             "value": [0.6, 0.96, None]})
    archived.to_csv(tmp_path / "archived.csv", index=False)
    archived.to_csv(tmp_path / "same.csv", index=False)
    main(["compare", "--verdicts", str(tmp_path / "same.csv"), "--archived", str(tmp_path / "archived.csv"),
          "--git-ref", "none"])
    assert "3 of 3 verdicts as archived" in capsys.readouterr().out
    # a run on another CPU: localisation fails, the illusion becomes testable
    other = archived.assign(verdict=["no", "yes", "yes"], value=[0.2, 0.95, 0.7])
    other.to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", "--verdicts", str(tmp_path / "other.csv"), "--archived", str(tmp_path / "archived.csv"),
              "--git-ref", "none"])
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert ("1 of 3 verdicts as archived; different: localisation (yes archived, no here); "
            "illusion (not testable here archived, yes here)") in out
    assert "| localisation | yes" in out
