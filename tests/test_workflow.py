"""A smoke run of the whole DAG on config/smoke.yaml in a temp directory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file

from conftest import REPO


def snakemake(directory: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Run the repository's workflow with the smoke config in `directory`."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile",
         str(REPO / "config" / "smoke.yaml"), "-d", str(directory), "--cores", "2", *arguments],
        capture_output=True, text=True, env=env, timeout=900)


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


def test_nothing_to_do_after_a_complete_run(smoke_run):
    result = snakemake(smoke_run, "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr
