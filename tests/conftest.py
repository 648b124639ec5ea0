"""Shared fixtures: schema defaults, a tiny world with its tokenizer, and tiny random
GPT-NeoX and GPT-2 models saved in Hugging Face format to a temp folder."""

from __future__ import annotations

import os
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import NamedTuple

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def schema_defaults(*path: str) -> dict:
    """Defaults of one config section, read from the schema (the single source of truth)."""
    from factlens.pipeline.stages.common import schema_defaults as defaults

    return dict(defaults(tuple(path)))


def world_settings(**overrides):
    from factlens.organism.world import WorldSettings

    return WorldSettings(**{**schema_defaults("world"), **overrides})


def organism_settings(**overrides):
    from factlens.organism.training import OrganismSettings

    return OrganismSettings(**{**schema_defaults("model", "organism"), **overrides})


TINY_WORLD = dict(n_athletes=90, n_golfers=2, n_first_names=10, n_last_names=20,
                  corpus_epochs=2, heldout_documents=5)


@pytest.fixture(scope="session")
def tiny_world():
    from factlens.organism.corpus import build_corpus
    from factlens.organism.world import draw_athletes

    settings = world_settings(**TINY_WORLD)
    athletes = draw_athletes(settings)
    train, heldout = build_corpus(athletes, settings)
    return settings, athletes, train, heldout


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_world):
    from factlens.organism.tokenizer import train_bpe_tokenizer

    from factlens.organism.world import EXAMPLE_SPORT, SPORTS

    return train_bpe_tokenizer(tiny_world[2], vocab_size=400, whole_words=(*SPORTS, EXAMPLE_SPORT))


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory, tiny_tokenizer):
    """Randomly initialised GPT-NeoX (rotary; parallel blocks as Pythia's, and sequential as
    the organism's) and GPT-2 (absolute positions)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(0)
    vocab = len(tiny_tokenizer)
    ids = dict(bos_token_id=tiny_tokenizer.bos_token_id, eos_token_id=tiny_tokenizer.eos_token_id,
               pad_token_id=tiny_tokenizer.pad_token_id)
    models = {
        "gpt_neox": GPTNeoXForCausalLM(GPTNeoXConfig(
            vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, rotary_pct=0.25, max_position_embeddings=128,
            use_parallel_residual=True, **ids)),
        "gpt_neox_sequential": GPTNeoXForCausalLM(GPTNeoXConfig(
            vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, rotary_pct=0.25, max_position_embeddings=128,
            use_parallel_residual=False, **ids)),
        "gpt2": GPT2LMHeadModel(GPT2Config(
            vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=128, **ids)),
    }
    folders = {}
    for name, model in models.items():
        folder = tmp_path_factory.mktemp(name)
        model.save_pretrained(folder)
        tiny_tokenizer.save_pretrained(folder)
        folders[name] = folder
    return folders


# The whole-DAG runs, by the fixture that returns each. They are independent, and each one's
# critical path leaves a core idle much of the time, so the session starts every run its
# selected tests need at once, in background threads, before its first test. The smoke run
# goes at normal priority and its tests first, because they are a serial chain (restarts,
# reruns, clones); the seeds and real-model runs go niced and fill the cores around that
# chain and the tests that need no run; their own tests come last.
WORKFLOW_RUNS = ("smoke_run", "seeds_run", "real_model_run")
TEST_ORDER = ("smoke_run", None, "real_model_run", "seeds_run")  # None: tests that need no run
BACKGROUND_NICENESS = 10
RUN_TIMEOUT = 2400  # s: three runs share two cores


def run_smoke(folder: Path) -> Path:
    """A clone of the repository in which the whole DAG ran on config/smoke.yaml."""
    from workflow_runs import clone_repository, snakemake

    clone = clone_repository(folder)
    result = snakemake(clone, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, result.stderr[-4000:]
    return clone


class SeedsRun(NamedTuple):
    clone: Path
    left_for_the_base_run: dict  # rule -> jobs the smoke config still planned after the seeds run
    seed_0_digests: dict  # results/smoke as the two runs left it, before any test touched it
    seed_0_manifest: str


def run_seeds(folder: Path) -> SeedsRun:
    """A second clone in which workflow/seeds.smk ran config/smoke.yaml for seeds 0 and 1,
    then the smoke config itself made what the seeds run does not need (its report, archive).

    Seed 0 is the smoke config, so that clone's `results/smoke` is a second run of it from
    scratch: the determinism test's. Its bytes are kept as written, because the seeds
    test later rebuilds that report with the aggregate."""
    from workflow_runs import clone_repository, digests, planned_jobs, snakemake

    clone = clone_repository(folder)
    (clone / "seeds.yaml").write_text(yaml.safe_dump(
        {"base": "config/smoke.yaml", "seeds": [0, 1], "workdir": "work/seeds-smoke",
         "resultsdir": "results/seeds-smoke"}))
    result = snakemake(clone, "-s", "workflow/seeds.smk", config="seeds.yaml", timeout=RUN_TIMEOUT,
                       niceness=BACKGROUND_NICENESS)
    assert result.returncode == 0, result.stderr[-4000:]
    left_for_the_base_run = planned_jobs(snakemake(clone, "--dry-run"))
    result = snakemake(clone, timeout=RUN_TIMEOUT, niceness=BACKGROUND_NICENESS)
    assert result.returncode == 0, result.stderr[-4000:]
    seed_0 = clone / "results" / "smoke"
    return SeedsRun(clone, left_for_the_base_run, digests(seed_0), (seed_0 / "MANIFEST.json").read_text())


class RealModelRun(NamedTuple):
    clone: Path
    model: Path
    dataset: Path


def run_real_model(folder: Path, model: Path) -> RealModelRun:
    """A model name instead of the organism: a tiny random GPT-2 saved to a folder stands in
    for `gpt2` (no downloads in tests); athletes come from the shipped CSV, and the SAEs'
    text from a Hugging Face dataset saved to disk (one split, sliced in two). Only the SAEs
    attribution needs, and the direction checks at the chosen roles and one fixed site: the
    organism's runs cover the sweeps."""
    from datasets import Dataset

    from workflow_runs import SMOKE, clone_repository, snakemake

    dataset = folder / "text"
    Dataset.from_dict({"text": [f"Record {i}: a player threw the ball {i % 7} times and the crowd "
                                f"cheered at the stadium number {i}." for i in range(600)]}
                      ).save_to_disk(str(dataset))
    clone = clone_repository(folder / "clone")
    config = yaml.safe_load((REPO / SMOKE).read_text())
    config["model"] = {"name": str(model), "device": "cpu"}
    config["prompts"] = {"athletes_csv": str(REPO / "data" / "athletes.csv"),
                         "example": "Tiger Woods", "known_threshold": 0.0}
    config["activations"]["dataset"] = {"path": str(dataset), "train_split": "train[:80%]",
                                        "heldout_split": "train[80%:]"}
    config["sae"]["sites"][0]["sweep"] = {"standard": [0.1], "jumprelu": [0.01]}
    config["sae"]["sites"][1]["sweep"] = {"jumprelu": [0.01]}
    config["directions"].update(sweep="roles", sites=[{"hook": "blocks.1.hook_resid_post",
                                                       "position": "final name token"}])
    path = folder / "gpt2.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(clone, config=path, timeout=RUN_TIMEOUT, niceness=BACKGROUND_NICENESS)
    assert result.returncode == 0, result.stderr[-4000:]
    return RealModelRun(clone, model, dataset)


@pytest.fixture(scope="session", autouse=True)
def background_runs(request, tmp_path_factory):
    """Start every whole-DAG run the session's selected tests need; fixture -> its future."""
    needed = request.config.stash.get(NEEDED_RUNS, set())
    # folders and models are made here, in the main thread; only the runs go to the threads
    runs = {}
    if "smoke_run" in needed:
        runs["smoke_run"] = partial(run_smoke, tmp_path_factory.mktemp("smoke"))
    if "seeds_run" in needed:
        runs["seeds_run"] = partial(run_seeds, tmp_path_factory.mktemp("seeds"))
    if "real_model_run" in needed:
        runs["real_model_run"] = partial(run_real_model, tmp_path_factory.mktemp("gpt2"),
                                         request.getfixturevalue("tiny_model_dirs")["gpt2"])
    if not runs:
        yield {}
        return
    import torch

    # the runs' jobs fill both cores; torch's second thread in this process would only spin
    # against them (the in-process tests took several times longer), so one while they go
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            yield {name: pool.submit(run) for name, run in runs.items()}
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smoke_run(background_runs):
    return background_runs["smoke_run"].result()


@pytest.fixture(scope="session")
def seeds_run(background_runs):
    return background_runs["seeds_run"].result()


@pytest.fixture(scope="session")
def real_model_run(background_runs):
    return background_runs["real_model_run"].result()


# Tests that run the workflow (the smoke and seeds runs, clones, dry runs, restarts) are marked slow,
# so `make test-fast` (pytest -m "not slow") gives a developer the rest in under 2 minutes.
WORKFLOW_MODULES = {"test_workflow", "test_reruns", "test_restart", "test_profiles"}
NEEDED_RUNS = pytest.StashKey[set]()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if set(WORKFLOW_RUNS) & set(item.fixturenames) or item.module.__name__ in WORKFLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    # the smoke run's tests, then those that need no run, then the niced runs' (TEST_ORDER)
    items.sort(key=lambda item: max((TEST_ORDER.index(name) for name in WORKFLOW_RUNS if name in item.fixturenames),
                                    default=TEST_ORDER.index(None)))


def pytest_collection_finish(session):
    """The runs the selected tests (after -m and -k) need."""
    session.config.stash[NEEDED_RUNS] = {name for item in session.items for name in WORKFLOW_RUNS
                                         if name in item.fixturenames}


def committed_bytes(relative: str) -> bytes:
    """A file of the repository as committed at HEAD, not as a local run left it (`make
    replicate` on another CPU rewrites results/default); the working tree's copy outside
    a git checkout."""
    import subprocess

    shown = subprocess.run(["git", "-C", str(REPO), "show", f"HEAD:{relative}"], capture_output=True)
    return shown.stdout if shown.returncode == 0 else (REPO / relative).read_bytes()


def committed_text(relative: str) -> str:
    return committed_bytes(relative).decode()


def padded_fact_prompts(model_dir, tiny_world, count: int = 40):
    """A tiny model loaded through the bridge, the left-padded Fact prompts of `count`
    athletes and their sport labels."""
    import torch

    from factlens.facts.evaluation import fact_prompts
    from factlens.loading import load_model
    from factlens.facts.prompts import encode_left_padded
    from factlens.organism.world import SPORTS, example_athlete

    model, tokenizer = load_model(str(model_dir), device="cpu")
    athletes = tiny_world[1]
    main = athletes[athletes.sport.isin(SPORTS)].head(count)
    batch = encode_left_padded(tokenizer, fact_prompts(main, example_athlete(athletes)["name"]),
                               list(main["name"]))
    return model, tokenizer, batch, torch.tensor([SPORTS.index(s) for s in main["sport"]])
