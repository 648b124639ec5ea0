"""A smoke run of the whole DAG on config/smoke.yaml in a temp directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from safetensors.torch import load_file

from conftest import REPO


SMOKE = REPO / "config" / "smoke.yaml"


def snakemake(directory: Path, *arguments: str, config: Path = SMOKE) -> subprocess.CompletedProcess:
    """Run the repository's workflow with the smoke config in `directory`."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
         str(config), "-d", str(directory), "--cores", "2", *arguments],
        capture_output=True, text=True, env=env, timeout=900)


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from a dry run's "Job stats" table."""
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text[text.index("Job stats:"):].splitlines()[3:]
    counts = {}
    for line in table:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            if parts and parts[0] == "total":
                break
            continue
        counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("smoke")
    result = snakemake(directory)
    assert result.returncode == 0, result.stderr[-4000:]
    return directory


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
    sae = smoke_run / "work" / "smoke" / "saes" / "blocks.1.hook_resid_post" / "gated" / "0.2"
    assert json.loads((sae / "cfg.json").read_text())["architecture"] == "gated"


def test_nothing_to_do_after_a_complete_run(smoke_run):
    assert planned_jobs(snakemake(smoke_run, "--dry-run")) == {}


def test_changing_one_sparsity_coefficient_reruns_only_that_sae(smoke_run, tmp_path):
    config = yaml.safe_load(SMOKE.read_text())
    config["sae"]["sites"][0]["sweep"]["gated"][0] = 0.3
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    jobs = planned_jobs(snakemake(smoke_run, "--dry-run", config=changed))
    # one SAE retrains; its hook's evaluation (one job for all SAEs of a hook, which
    # shares the model and reference losses), the sweep summary and the illusion check
    # that takes its latents at that hook follow
    assert jobs == {"train_sae": 1, "evaluate_saes_blocks_1_hook_resid_post": 1,
                    "summarise_saes": 1, "check_directions": 1, "all": 1}


def test_real_model_path_runs_the_same_workflow_on_a_model_folder(tiny_model_dirs, tmp_path):
    """A model name instead of the organism: here a tiny random GPT-2 saved to a folder
    stands in for `gpt2` (no downloads in tests); athletes come from the shipped CSV."""
    config = yaml.safe_load(SMOKE.read_text())
    config["model"] = {"name": str(tiny_model_dirs["gpt2"]), "device": "cpu"}
    config["prompts"] = {"athletes_csv": str(REPO / "data" / "athletes.csv"),
                         "example": "Tiger Woods", "known_threshold": 0.0}
    path = tmp_path / "gpt2.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, config=path)
    assert result.returncode == 0, result.stderr[-4000:]
    results = tmp_path / "results" / "smoke"
    assert not (tmp_path / "work" / "smoke" / "model").exists()  # no organism trained
    check = json.loads((results / "prompts" / "padding_check.json").read_text())
    assert check["passed"] and check["prompts"] == 168
    scores = pd.read_csv(results / "prompts" / "scores.csv")
    assert set(scores["sport"]) == {"baseball", "basketball", "football"}
    sweep = pd.read_csv(results / "saes" / "sweep.csv")
    assert len(sweep) == 8
    assert (results / "attribution" / "comparison.csv").exists()
