"""A smoke run of the whole DAG on config/smoke.yaml in a clone of the repository: every
output, the report, the manifest and its verification, determinism, the real-model path."""

import json

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from snakemake.utils import validate

from conftest import REPO
from workflow_runs import digests, factlens, planned_jobs, snakemake

SMOKE = REPO / "config" / "smoke.yaml"
CLAIM_TITLES = ("an early MLP looks the sport up at the final name token", "linear probes read the sport",
                "Gated SAEs need less L0", "JumpReLU SAEs need less L0", "The baseline shrinks",
                "works through the illusion", "learned directions more than neurons",
                "A rank-1 edit of W_out", "Integrated gradients and attribution patching miss a JumpReLU's jumps",
                "Ours: a first-order jump term", "Ours: the exact step")


def test_smoke_run_writes_every_output(smoke_run):
    results = smoke_run / "results" / "smoke"
    work = smoke_run / "work" / "smoke"
    assert (work / "model" / "config.json").exists()
    assert (work / "model" / "tokenizer.json").exists()
    for stage in ("prepare_world", "train_tokenizer", "train_model", "prepare_prompts"):
        assert (work / "logs" / f"{stage}.log").exists()
        assert (work / "benchmarks" / f"{stage}.tsv").exists()
    accuracy = json.loads((results / "model" / "accuracy.json").read_text())
    assert accuracy["athletes"] == 60 and 0 <= accuracy["fact_prompt_accuracy"] <= 1
    assert (results / "model" / "training.png").stat().st_size > 1000
    assert (results / "model" / "training.pdf").exists()
    name_parts = pd.read_csv(results / "model" / "name_part_accuracy.csv")
    assert list(name_parts["prompt_name"]) == ["full name", "first name only", "last name only",
                                               "first name swapped"]
    assert accuracy["name_part_accuracy"]["full name"] == accuracy["fact_prompt_accuracy"]
    controls = pd.read_csv(results / "data" / "name_part_controls.csv")
    assert sorted(controls["name_part"]) == ["first_name"] * 2 + ["last_name"] * 2
    assert controls["accuracy"].between(0, 1).all()  # <= 40% is tested on the default world
    patching = pd.read_csv(results / "localisation" / "patching.csv")
    assert set(patching["family"]) == {"residual", "component", "first-name swap"}
    probes = pd.read_csv(results / "localisation" / "probe_accuracy.csv")
    assert set(probes["position"]) == {"final name token", "final token"}
    assert probes.groupby(["position", "layer"])["selected"].sum().eq(1).all()
    check = json.loads((results / "prompts" / "padding_check.json").read_text())
    assert check["passed"] and check["prompts"] == 60 and check["max_abs_diff"] <= 1e-4


def test_prompt_tensors_match_the_score_table(smoke_run):
    results = smoke_run / "results" / "smoke"
    tensors = load_file(smoke_run / "work" / "smoke" / "prompts" / "fact_prompts.safetensors")
    scores = pd.read_csv(results / "prompts" / "scores.csv")
    known = pd.read_csv(results / "prompts" / "known_athletes.csv")
    assert tensors["input_ids"].shape[0] == len(scores) == 60
    assert tensors["athlete_id"].tolist() == scores["athlete_id"].tolist()
    assert int(tensors["kept"].sum()) == len(known) == int(scores["kept"].sum())
    assert (tensors["attention_mask"][:, -1] == 1).all()
    by_length = pd.read_csv(results / "prompts" / "accuracy_by_name_length.csv")
    assert by_length["athletes"].sum() == 60


def test_sae_sweep_outputs(smoke_run):
    results = smoke_run / "results" / "smoke" / "saes"
    sweep = pd.read_csv(results / "sweep.csv")
    config = yaml.safe_load(SMOKE.read_text())
    expected = sum(len(v) for site in config["sae"]["sites"] for v in site["sweep"].values())
    assert len(sweep) == expected
    assert ((sweep["loss_recovered"] > -1) & (sweep["loss_recovered"] <= 1.01)).all()
    assert (sweep["l0"] > 0).all() and (sweep["fvu"] >= 0).all()
    resid = sweep[sweep.hook_name == "blocks.1.hook_resid_post"]
    baseline = resid[resid.architecture == "standard"].d_sae.iloc[0]
    gated = resid[resid.architecture == "gated"].d_sae.iloc[0]
    assert baseline == 1.5 * gated  # the paper's 50% more latents for the baseline
    for name in ("pareto.png", "pareto.pdf", "shrinkage.png", "sweep.md",
                 "l0_at_equal_loss_recovered.csv"):
        assert (results / name).exists()
    # one evaluation table per hook; its per-sequence sums give back the table's metrics
    for hook, site in sweep.groupby("hook_name"):
        assert len(pd.read_csv(results / hook / "metrics.csv")) == len(site)
        sequences = pd.read_parquet(results / hook / "sequences.parquet")
        reference = sequences[sequences.architecture.isin(["clean", "zero_ablation"])]
        clean, zero = (reference[reference.architecture == name]["ce_sum"].sum() for name in ("clean", "zero_ablation"))
        for row in site.itertuples():
            runs = sequences[(sequences.architecture == row.architecture)
                             & (sequences.sparsity_coefficient == row.sparsity_coefficient)]
            assert runs["active"].sum() / runs["positions"].sum() == pytest.approx(row.l0, rel=1e-4)
            assert (zero - runs["ce_sum"].sum()) / (zero - clean) == pytest.approx(row.loss_recovered, abs=1e-4)
    comparison = pd.read_csv(results / "l0_at_equal_loss_recovered.csv")
    assert {"l0_baseline", "ratio_low", "ratio_high", "resamples_in_range"} <= set(comparison.columns)
    sae = smoke_run / "work" / "smoke" / "saes" / "blocks.1.hook_resid_post" / "gated" / "0.2"
    cfg = json.loads((sae / "cfg.json").read_text())
    assert cfg["architecture"] == "gated"
    # SAELens's provenance: the model folder (relative to the repository) and the corpus
    # the activations came from, in rows of the cached context length
    assert {key: cfg["metadata"][key] for key in ("model_name", "hook_name", "context_size",
                                                  "dataset_path", "prepend_bos")} == {
        "model_name": "work/smoke/model", "hook_name": "blocks.1.hook_resid_post",
        "context_size": config["activations"]["context_length"], "dataset_path": "corpus_train.txt",
        "prepend_bos": True}


def test_jumprelu_trains_in_float32_under_bf16_autocast(smoke_run, tmp_path):
    """sae.training.autocast is one setting for a whole run: the baseline, Gated and TopK
    sweeps take it, and JumpReLU's, whose bandwidth bf16 cannot resolve, trains in float32
    (bit for bit as without autocast), says so, and records it in cfg.json."""
    settings = {"seed": 0, "batch_size": 64, "steps": 3, "warmup_steps": 1, "adam_beta1": 0.0,
                "adam_beta2": 0.999, "resample_every": 0, "resample_warmup_steps": 1, "log_every": 1}
    runs = {}
    for autocast in ("none", "bfloat16"):
        runs[autocast] = factlens(
            smoke_run, "train-sae", "--settings", json.dumps({**settings, "autocast": autocast}),
            "--threads", "1", "--device", "cpu",
            "--store", "work/smoke/activations/train/blocks.1.hook_resid_post", "--architecture", "jumprelu",
            "--coefficients", "0.01", "--width", "2", "--learning-rate", "0.001",
            "--hook", "blocks.1.hook_resid_post", "--out", str(tmp_path / autocast),
            "--log", str(tmp_path / f"{autocast}.csv"))
        assert runs[autocast].returncode == 0, runs[autocast].stderr[-2000:]
    warning = "JumpReLU SAEs train in float32 whatever sae.training.autocast says"
    assert warning in runs["bfloat16"].stderr and warning not in runs["none"].stderr
    weights = [load_file(tmp_path / autocast / "0.01" / "sae_weights.safetensors") for autocast in runs]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    for autocast in runs:
        cfg = json.loads((tmp_path / autocast / "0.01" / "cfg.json").read_text())
        assert cfg["training"]["autocast"] == "none"


def test_report_states_every_claim_with_its_tables_and_figures(smoke_run):
    results = smoke_run / "results" / "smoke"
    report = (results / "REPORT.md").read_text()
    for title in CLAIM_TITLES:
        assert title in report
    # every figure the report links exists, and every claim table has a Markdown twin
    for link in [line[line.index("](") + 2:-1] for line in report.splitlines() if line.startswith("![")]:
        assert (results / link).exists(), link
    for table in (results / "report").glob("*.csv"):
        if table.name == "verdicts.csv":  # the verdicts for the seeds run, not a claim table
            continue
        frame = pd.read_csv(table)
        assert len(frame.columns) >= 2
        assert (table.with_suffix(".md")).read_text().startswith("|")
    # the verdict in the summary table matches the numbers in the claim table
    comparison = pd.read_csv(results / "attribution" / "comparison.csv")
    total = comparison[(comparison.stratum == "all") & (comparison.scope == "total")]
    overall = total.set_index(["downstream", "method"])["relative_mae"]
    blind_spot = overall["JumpReLU", "ig128"] >= 0.2 and overall["JumpReLU", "ig128"] >= 10 * overall["ReLU", "ig128"]
    repaired = overall["JumpReLU", "ig128_jump"] <= 0.5 * overall["JumpReLU", "ig128"]
    rows = {title: next(line for line in report.splitlines() if title in line and line.startswith("|"))
            for title in ("miss a JumpReLU's jumps", "Ours: a first-order jump term")}
    assert rows["miss a JumpReLU's jumps"].endswith("| yes |") == blind_spot
    expected = ("| yes |" if repaired else "| **no** |") if blind_spot else "| not testable here |"
    assert rows["Ours: a first-order jump term"].endswith(expected)
    card = (results / "model" / "MODEL_CARD.md").read_text()
    assert "Model card" in card and "Parameters" in card


def test_manifest_matches_its_schema_and_every_archived_file(smoke_run):
    results = smoke_run / "results" / "smoke"
    manifest = json.loads((results / "MANIFEST.json").read_text())
    validate(manifest, str(REPO / "workflow" / "schemas" / "manifest.schema.yaml"))
    archived = {path.relative_to(results).as_posix() for path in results.rglob("*")
                if path.is_file() and path.name != "MANIFEST.json"}
    assert set(manifest["files"]) == archived
    assert manifest["config"]["resultsdir"] == "results/smoke"
    rules = manifest["rules"]
    # one training job per sweep (hook, architecture), each SAE in its own folder
    sweep = pd.read_csv(results / "saes" / "sweep.csv")
    assert rules["train_sae"]["jobs"] == len(sweep.drop_duplicates(["hook_name", "architecture"]))
    assert {"train_model", "prepare_prompts", "cache_activations", "build_report"} <= set(rules)
    assert manifest["code"]["src/factlens/pipeline/report.py"]


def test_verify_reports_no_drift_then_names_a_changed_table(smoke_run, tmp_path):
    result = factlens(smoke_run, "verify", "--manifest", "results/smoke/MANIFEST.json")
    assert result.returncode == 0 and "no drift" in result.stdout, result.stdout + result.stderr
    table = smoke_run / "results" / "smoke" / "saes" / "sweep.csv"
    original = table.read_bytes()
    try:
        table.write_bytes(original.replace(b"0", b"1", 1))
        result = factlens(smoke_run, "verify", "--manifest", "results/smoke/MANIFEST.json")
        assert result.returncode == 1
        assert "changed  table    saes/sweep.csv" in result.stdout and "DRIFT" in result.stdout
        # the archive's CPU and kernel set beside this machine's: here, the same machine
        capability = torch.backends.cpu.get_cpu_capability()
        assert result.stdout.count(f"({capability})") == 2, result.stdout
    finally:
        table.write_bytes(original)


def test_nothing_to_do_after_a_complete_run(smoke_run):
    assert planned_jobs(snakemake(smoke_run, "--dry-run")) == {}


def test_two_runs_give_byte_identical_results(smoke_run, seeds_run):
    """Determinism: a second clone run from scratch (the seeds run's seed 0, which is the
    smoke config) writes the same bytes, figures included (only the manifest differs: it
    records wall times)."""
    second, second_manifest = seeds_run.seed_0_digests, seeds_run.seed_0_manifest
    first_results = smoke_run / "results" / "smoke"
    first = {path: digest for path, digest in digests(first_results).items() if path != "MANIFEST.json"}
    assert len(first) > 50
    different = sorted(path for path, digest in first.items() if second.get(path) != digest)
    assert different == []
    assert sorted(first) == sorted(path for path in second if path != "MANIFEST.json")
    archived = [json.loads(text)["files"] for text in ((first_results / "MANIFEST.json").read_text(), second_manifest)]
    assert archived[0] == archived[1]


def test_real_model_path_runs_the_same_workflow_on_a_model_folder(real_model_run):
    """A model name instead of the organism (conftest.run_real_model): a tiny random GPT-2
    in a folder stands in for `gpt2`, with the shipped athletes and a dataset on disk."""
    clone, model, dataset = real_model_run
    results = clone / "results" / "smoke"
    assert not (clone / "work" / "smoke" / "model").exists()  # no organism trained
    assert not (clone / "work" / "smoke" / "tokenizer").exists()  # the model's own tokenizer
    check = json.loads((results / "prompts" / "padding_check.json").read_text())
    assert check["passed"] and check["prompts"] == 168
    scores = pd.read_csv(results / "prompts" / "scores.csv")
    assert set(scores["sport"]) == {"baseball", "basketball", "football"}
    sweep = pd.read_csv(results / "saes" / "sweep.csv")
    assert len(sweep) == 3
    assert (results / "attribution" / "comparison.csv").exists()
    report = (results / "REPORT.md").read_text()
    assert str(model) in report and "MODEL_CARD" not in report
    assert not (results / "model" / "MODEL_CARD.md").exists()
    stores = clone / "work" / "smoke" / "activations"
    for split, rows in (("train", "train[:80%]"), ("heldout", "train[80%:]")):
        manifest = json.loads((stores / split / "blocks.1.hook_resid_post" / "manifest.json").read_text())
        assert manifest["corpus"] == f"{dataset}:{rows}"
    # an SAE's cfg.json names the model and the dataset as a user would load them again
    metadata = json.loads((clone / "work" / "smoke" / "saes" / "blocks.1.hook_resid_post" / "standard"
                           / "0.1" / "cfg.json").read_text())["metadata"]
    assert (metadata["model_name"], metadata["dataset_path"], metadata["dataset_split"]) == (
        str(model), str(dataset), "train[:80%]")


def test_snakemake_report_builds_with_captions(smoke_run, tmp_path):
    """`snakemake --report` on the finished smoke run: figures with their captions, claim tables."""
    result = snakemake(smoke_run, "--report", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert "Activation patching of clean/corrupt prompt pairs" in html
    assert "Claims" in html and "Illusion checks" in html


def test_direction_check_runs_at_the_configured_position(smoke_run, tmp_path):
    """`--position "final token"` learns and patches there: the table says so, and the
    whole-component patch differs from the archived one at the final name token."""
    table = tmp_path / "illusion.csv"
    result = factlens(smoke_run, "check-directions", "--model", "work/smoke/model", "--device", "cpu",
                      "--settings", '{"seed": 0, "epochs": 1, "batch_size": 8, "learning_rate": 0.01, "restarts": 2, '
                      '"validation_fraction": 0.2, "patience": 1}',
                      "--prompts", "work/smoke/prompts/fact_prompts.safetensors",
                      "--hook", "blocks.1.hook_resid_post", "--position", "final token",
                      "--sports", '["baseball", "basketball"]', "--pairs", "20",
                      "--table", str(table), "--figure", str(tmp_path / "illusion.png"))
    assert result.returncode == 0, result.stderr[-3000:]
    frame = pd.read_csv(table)
    assert set(frame["position"]) == {"final token"}
    at_name = pd.read_csv(smoke_run / "results" / "smoke" / "directions" / "blocks.1.hook_resid_post"
                          / "final_name_token" / "illusion.csv")
    assert set(at_name["position"]) == {"final name token"}
    full = frame[frame["direction"] == "full component"].iloc[0]
    full_at_name = at_name[at_name["direction"] == "full component"].iloc[0]
    assert full["fldd"] != pytest.approx(full_at_name["fldd"])
