"""A run SIGKILLed in the middle of a rule (Snakemake and the job together, as a power
cut or a scheduler's pre-emption would) and restarted ends with the same bytes as an
uninterrupted run: activation caching resumes from its last complete shard, SAE training
resumes from its last checkpoint, and no half-written output is ever taken for a finished
one."""

import json
import os
import shutil
import signal
import time
from pathlib import Path

import yaml

from conftest import REPO
from workflow_runs import SMOKE, digests, snakemake, start_snakemake

STORE = "work/smoke/activations/train/blocks.1.hook_resid_post"
SWEEP = "work/smoke/saes/blocks.1.hook_resid_post/gated"  # one job trains the whole sweep
SWEEP_CHECKPOINT = "work/smoke/checkpoints/saes/blocks.1.hook_resid_post/gated.pt"
SWEEP_LOG = "work/smoke/logs/train_sae/blocks.1.hook_resid_post/gated.log"


def longer_config(tmp_path: Path, more: str) -> str:
    """The smoke config with more tokens to cache (`more` = "tokens") or more SAE steps
    ("steps"), so that the rule under test has a middle; only that, so nothing else reruns."""
    config = yaml.safe_load((REPO / SMOKE).read_text())
    if more == "tokens":
        config["activations"]["train_tokens"] = 20000  # 20 shards: a middle to kill in
    else:
        config["sae"]["sites"][0]["training"] = {"steps": 400, "checkpoint_every": 100}
    path = tmp_path / "longer.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def reference_and_copy(smoke_run: Path, tmp_path: Path, target: str, config: str) -> tuple[Path, Path]:
    """Two copies of the finished smoke run: one where `target` was built uninterrupted,
    one left for a run to be killed."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for copy in (reference, killed):
        shutil.copytree(smoke_run, copy, symlinks=True)
    assert snakemake(reference, target, config=config).returncode == 0
    return reference, killed


def kill_when(directory: Path, target: str, config: str, reached, timeout: float = 300) -> None:
    """Start the workflow for `target`, SIGKILL its whole process group once `reached()`."""
    process = start_snakemake(directory, target, config=config)
    deadline = time.time() + timeout
    try:
        while not reached():
            assert process.poll() is None, "the run ended before the kill point"
            assert time.time() < deadline, "the kill point was never reached"
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def restart(directory: Path, target: str, config: str) -> None:
    unlocked = snakemake(directory, "--unlock", config=config)
    assert unlocked.returncode == 0, unlocked.stderr[-2000:]
    result = snakemake(directory, target, "--rerun-incomplete", config=config)
    assert result.returncode == 0, result.stderr[-3000:]


def shards_done(store: Path) -> int:
    try:
        return len(json.loads((store / "progress.json").read_text())["shards"])
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def test_caching_killed_mid_rule_resumes_to_the_same_store(smoke_run, tmp_path):
    config = longer_config(tmp_path, more="tokens")
    target = f"{STORE}/manifest.json"
    reference, killed = reference_and_copy(smoke_run, tmp_path, target, config)
    store = killed / STORE
    kill_when(killed, target, config, lambda: shards_done(store) >= 3)
    left = shards_done(store)
    total = len(json.loads((reference / target).read_text())["shards"])
    assert not (store / "manifest.json").exists() and 3 <= left < total, (left, total)  # mid-rule

    restart(killed, target, config)
    assert digests(killed / STORE) == digests(reference / STORE)
    assert "progress.json" not in digests(killed / STORE)  # resumed, then finished cleanly


def test_sae_training_killed_mid_rule_resumes_from_its_checkpoint_to_the_same_saes(smoke_run, tmp_path):
    config = longer_config(tmp_path, more="steps")
    target = SWEEP
    reference, killed = reference_and_copy(smoke_run, tmp_path, target, config)
    checkpoint = killed / SWEEP_CHECKPOINT

    kill_when(killed, target, config, checkpoint.exists)
    # killed mid-rule: no half-trained SAE was written (Snakemake clears the sweep's folder
    # before it runs the job; the checkpoint lives outside it)
    assert not list((killed / SWEEP).glob("*/sae_weights.safetensors"))
    assert checkpoint.exists()

    restart(killed, target, config)
    assert "resuming from the checkpoint at step" in (killed / SWEEP_LOG).read_text()
    assert digests(killed / SWEEP) == digests(reference / SWEEP)  # every SAE of the sweep, bit for bit
    assert not checkpoint.exists()
    training_log = "results/smoke/saes/blocks.1.hook_resid_post/gated/training_log.csv"
    assert (killed / training_log).read_bytes() == (reference / training_log).read_bytes()
