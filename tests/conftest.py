"""Shared fixtures: schema defaults, a tiny world with its tokenizer, and tiny random
GPT-NeoX and GPT-2 models saved in Hugging Face format to a temp folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def schema_defaults(*path: str) -> dict:
    """Defaults of one config section, read from the schema (the single source of truth)."""
    from factlens.stages.common import schema_defaults as defaults

    return dict(defaults(tuple(path)))


def world_settings(**overrides):
    from factlens.world import WorldSettings

    return WorldSettings(**{**schema_defaults("world"), **overrides})


def organism_settings(**overrides):
    from factlens.organism import OrganismSettings

    return OrganismSettings(**{**schema_defaults("model", "organism"), **overrides})


TINY_WORLD = dict(n_athletes=90, n_golfers=2, n_first_names=10, n_last_names=20,
                  corpus_epochs=2, heldout_documents=5)


@pytest.fixture(scope="session")
def tiny_world():
    from factlens.corpus import build_corpus
    from factlens.world import draw_athletes

    settings = world_settings(**TINY_WORLD)
    athletes = draw_athletes(settings)
    train, heldout = build_corpus(athletes, settings)
    return settings, athletes, train, heldout


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_world):
    from factlens.tokenizer import train_bpe_tokenizer

    from factlens.world import EXAMPLE_SPORT, SPORTS

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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A clone of the repository in which the whole DAG ran on config/smoke.yaml."""
    from workflow_runs import clone_repository, snakemake

    clone = clone_repository(tmp_path_factory.mktemp("smoke"))
    result = snakemake(clone)
    assert result.returncode == 0, result.stderr[-4000:]
    return clone


class SeedsRun(NamedTuple):
    clone: Path
    left_for_the_base_run: dict  # rule -> jobs the smoke config still planned after the seeds run
    seed_0_digests: dict  # results/smoke as the two runs left it, before any test touched it
    seed_0_manifest: str


@pytest.fixture(scope="session")
def seeds_run(tmp_path_factory):
    """A second clone in which workflow/seeds.smk ran config/smoke.yaml for seeds 0 and 1,
    then the smoke config itself made what the seeds run does not need (its report, archive).

    Seed 0 is the smoke config, so that clone's `results/smoke` is a second run of it from
    scratch: the determinism test's. Its bytes are kept as written, because the seeds
    test later rebuilds that report with the aggregate."""
    from workflow_runs import clone_repository, digests, planned_jobs, snakemake

    clone = clone_repository(tmp_path_factory.mktemp("seeds"))
    (clone / "seeds.yaml").write_text(yaml.safe_dump(
        {"base": "config/smoke.yaml", "seeds": [0, 1], "workdir": "work/seeds-smoke",
         "resultsdir": "results/seeds-smoke"}))
    result = snakemake(clone, "-s", "workflow/seeds.smk", config="seeds.yaml", timeout=1500)
    assert result.returncode == 0, result.stderr[-4000:]
    left_for_the_base_run = planned_jobs(snakemake(clone, "--dry-run"))
    result = snakemake(clone)
    assert result.returncode == 0, result.stderr[-4000:]
    seed_0 = clone / "results" / "smoke"
    return SeedsRun(clone, left_for_the_base_run, digests(seed_0), (seed_0 / "MANIFEST.json").read_text())


# Tests that run the workflow (the smoke and seeds runs, clones, dry runs, restarts) are marked slow,
# so `make test-fast` (pytest -m "not slow") gives a developer the rest in under 2 minutes.
WORKFLOW_MODULES = {"test_workflow", "test_reruns", "test_restart", "test_profiles"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if {"smoke_run", "seeds_run"} & set(item.fixturenames) or item.module.__name__ in WORKFLOW_MODULES:
            item.add_marker(pytest.mark.slow)


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

    from factlens.evaluation import fact_prompts
    from factlens.loading import load_model
    from factlens.prompts import encode_left_padded
    from factlens.world import SPORTS, example_athlete

    model, tokenizer = load_model(str(model_dir), device="cpu")
    athletes = tiny_world[1]
    main = athletes[athletes.sport.isin(SPORTS)].head(count)
    batch = encode_left_padded(tokenizer, fact_prompts(main, example_athlete(athletes)["name"]),
                               list(main["name"]))
    return model, tokenizer, batch, torch.tensor([SPORTS.index(s) for s in main["sport"]])
